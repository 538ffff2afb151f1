import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { expect } from 'chai';
import { type FreshDb, freshDb } from '../support/db.ts';
import { baseEnv, type Running, runCli, startServer, tempDataDir } from '../support/process.ts';

// The real entry point: start-up, migrations on start, graceful shutdown, the CLI.
describe('process (npm start, npm run cli) @slow', function () {
  this.timeout(120_000);
  let fresh: FreshDb | undefined;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    // CI: a fresh PostgreSQL database; locally: an embedded database in a temp directory.
    if (process.env.DATABASE_URL) {
      fresh = await freshDb();
      env = baseEnv({ DATABASE_URL: fresh.url });
    } else {
      env = baseEnv({ DATA_DIR: tempDataDir() });
    }
  });
  after(() => fresh?.drop());

  it('refuses to start with a bad variable and names it', () => {
    const r = runCli(['migrate'], { ...env, DEFAULT_PHONE_REGION: 'Atlantis' });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('DEFAULT_PHONE_REGION');
  });

  it('CLI: bad arguments print usage and exit 2', () => {
    const r = runCli(['apikey:create', '--name', 'x'], env);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--scopes');
    expect(r.stderr).to.include('Usage:');
    expect(runCli(['frobnicate'], env).code).to.equal(2);
    const badScope = runCli(['apikey:create', '--name', 'x', '--scopes', 'check,root'], env);
    expect(badScope.code).to.equal(2);
    expect(badScope.stderr).to.include('root');
  });

  let server: Running | undefined;
  let apiKey = '';

  it('CLI: apikey:create prints the key alone on its last line', () => {
    const r = runCli(['apikey:create', '--name', 'ci', '--scopes', 'check,contacts'], env);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    apiKey = lines[lines.length - 1];
    expect(apiKey).to.match(/^pck_[A-Za-z0-9_-]{43}$/);
  });

  it('CLI: admin:create and ledger:verify', () => {
    const created = runCli(
      [
        'admin:create',
        '--email',
        'boss@example.com',
        '--password',
        'correct horse battery',
        '--role',
        'owner',
      ],
      env,
    );
    expect(created.code, created.stderr).to.equal(0);
    const weak = runCli(
      ['admin:create', '--email', 'b2@example.com', '--password', 'short', '--role', 'owner'],
      env,
    );
    expect(weak.code).to.equal(2);
    expect(weak.stderr).to.include('password');
    const verified = runCli(['ledger:verify'], env);
    expect(verified.code, verified.stderr).to.equal(0);
    expect(verified.stdout).to.match(/Ledger intact: \d+ events/);
  });

  it('starts, serves, and on SIGTERM finishes the request in flight before exiting 0', async () => {
    server = await startServer(env);
    const port = server.port;
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(ok.status).to.equal(200);

    // A request whose body is still arriving when SIGTERM lands.
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/v1/slow',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write('{"part":');
      setTimeout(() => {
        server?.child.kill('SIGTERM');
        setTimeout(() => req.end('1}'), 500);
      }, 200);
    });
    expect(await inFlight).to.equal(404); // answered (route unknown), not cut off
    expect(await server.exited).to.equal(0);
    expect(server.output()).to.include('stopped cleanly');
  });

  it('npm start: runs the compiled build, and SIGTERM to the npm process alone stops the service, freeing its port and the database lock', async () => {
    const dataDir = tempDataDir();
    const s = await startServer({ ...env, DATA_DIR: dataDir }, { npm: true });
    const lock = path.join(dataDir, 'pglite.lock');
    if (!process.env.DATABASE_URL) expect(existsSync(lock)).to.equal(true);
    expect((await fetch(`http://127.0.0.1:${s.port}/healthz`)).status).to.equal(200);
    // npm start runs dist/, compiled from the sources: the service is that process, its views
    // and static files are found from there, and it migrated its database from dist/db.
    const pid = s.output().match(/"pid":(\d+)/)?.[1];
    expect(pid, 'the first log line names the pid').to.be.a('string');
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).to.include('dist/server/index.js');
    const home = await fetch(`http://127.0.0.1:${s.port}/`);
    expect(home.status).to.equal(200);
    expect(await home.text()).to.match(/<form[^>]+method="post"/i);
    const css = await fetch(`http://127.0.0.1:${s.port}/static/site.css`);
    expect(css.status).to.equal(200);
    expect(await css.text()).to.include('{');
    const t0 = Date.now();
    s.child.kill('SIGTERM'); // the npm process only, as a platform signals the process it started
    await s.exited;
    // the service itself (npm's child) is gone too: nothing listens, the lock is released
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await fetch(`http://127.0.0.1:${s.port}/healthz`).then(
        () => false,
        () => true,
      );
      if (!refused) await new Promise((r) => setTimeout(r, 100));
    }
    expect(refused, 'the port is free').to.equal(true);
    expect(existsSync(lock), 'the embedded database lock is released').to.equal(false);
    expect(Date.now() - t0).to.be.below(25_000);
    expect(s.output()).to.include('stopped cleanly');
  });

  // The lock guards the embedded database only; PostgreSQL handles many processes itself.
  const embedded = !process.env.DATABASE_URL;
  if (embedded) {
    it('a second process cannot open the same embedded database', async () => {
      const first = await startServer(env);
      try {
        const r = runCli(['migrate'], env);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(/in use by process/);
      } finally {
        first.child.kill('SIGTERM');
        await first.exited;
      }
    });
  }
});
