import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ROOT } from '../support/process.ts';

// npm run build, which npm start and npm run worker run first: dist/ from the sources, rewritten
// only where a source changed, one build at a time per directory.
describe('the build behind npm start @slow', function () {
  this.timeout(60_000);
  const lock = path.join(ROOT, 'dist.lock');
  afterEach(() => rmSync(lock, { recursive: true, force: true }));

  const build = () => {
    const child = spawn(process.execPath, ['scripts/build.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (c) => {
      out += c;
    });
    child.stderr?.on('data', (c) => {
      out += c;
    });
    const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, done, output: () => out };
  };
  const mtimes = (dir: string) =>
    new Map(
      (readdirSync(dir, { recursive: true }) as string[])
        .filter((f) => f.endsWith('.js'))
        .map((f) => [f, statSync(path.join(dir, f)).mtimeMs]),
    );
  const exited = (child: ChildProcess) => child.exitCode !== null;

  it('compiles every entry point, and a build with nothing changed rewrites no file', async () => {
    expect(await build().done).to.equal(0);
    for (const f of ['server/index.js', 'server/worker.js', 'db/migrate.js', 'bench/import.js'])
      expect(existsSync(path.join(ROOT, 'dist', f)), f).to.equal(true);
    const before = mtimes(path.join(ROOT, 'dist'));
    expect(before.size).to.be.above(100);
    await new Promise((r) => setTimeout(r, 50)); // a rewrite would have a later mtime
    expect(await build().done).to.equal(0);
    expect(mtimes(path.join(ROOT, 'dist'))).to.deep.equal(before);
    expect(existsSync(lock), 'the lock is released').to.equal(false);
  });

  it('waits while another build holds the lock, then goes on', async () => {
    mkdirSync(lock);
    const b = build();
    await new Promise((r) => setTimeout(r, 1500));
    expect(exited(b.child), 'still waiting for the lock').to.equal(false);
    rmSync(lock, { recursive: true });
    expect(await b.done).to.equal(0);
  });

  it('takes over a lock left by a build that died', async () => {
    mkdirSync(lock);
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    const b = build();
    expect(await b.done).to.equal(0);
    expect(b.output()).to.match(/taking over a lock left 12\d s ago/);
    expect(existsSync(lock)).to.equal(false);
  });

  it('removes compiled files whose source is gone (a renamed migration must not run from its old copy)', async () => {
    expect(await build().done).to.equal(0);
    const orphan = path.join(ROOT, 'dist/db/migrations/20000101000000_renamed_away.js');
    writeFileSync(orphan, 'export async function up() { throw new Error("must not run"); }\n');
    writeFileSync(`${orphan}.map`, '{}');
    const b = build();
    expect(await b.done).to.equal(0);
    expect(existsSync(orphan)).to.equal(false);
    expect(existsSync(`${orphan}.map`)).to.equal(false);
    expect(b.output()).to.include('db/migrations/20000101000000_renamed_away.js');
    expect(
      existsSync(path.join(ROOT, 'dist/db/migrations/20261125000100_accounts_contacts_topics.js')),
    ).to.equal(true);
  });
});
