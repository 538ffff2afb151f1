// The README's walkthrough, run exactly as written against a freshly started server: the block
// between <!-- walkthrough:start --> and <!-- walkthrough:end --> goes to bash (set -euo
// pipefail) with only its first line, the `export BASE=… KEY=…`, given this server's values.
// If the README drifts from what the service does, this fails.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { baseEnv, ROOT, type Running, startServer, tempDataDir } from '../support/process.ts';

function walkthrough(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- walkthrough:start -->\n```sh\n([\s\S]*?)```\n<!-- walkthrough:end -->/.exec(readme);
  if (!m) throw new Error('README.md has no walkthrough block');
  return m[1].split('\n');
}

describe('README walkthrough', () => {
  let server: Running | undefined;
  after(() => {
    server?.child.kill('SIGTERM');
  });

  it('runs top to bottom against a fresh start, with the key the first start prints', async function () {
    this.timeout(60_000);
    const lines = walkthrough();
    expect(lines[0]).to.match(/^export BASE=http:\/\/localhost:3000 KEY=\S+$/);
    server = await startServer(baseEnv({ DATA_DIR: tempDataDir() }));
    const key = /API key\s+(\S+)/.exec(server.output())?.[1];
    expect(key, 'the first start prints an API key').to.match(/^pck_/);
    const script = [`export BASE=http://localhost:${server.port} KEY=${key}`, ...lines.slice(1)].join('\n');
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: mkdtempSync(path.join(tmpdir(), 'pc-readme-')),
      encoding: 'utf8',
      timeout: 50_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    expect(run.status, `the walkthrough stopped:\n${run.stdout.slice(-2000)}\n${run.stderr}`).to.equal(0);
    const out = run.stdout;
    // what the comments in the walkthrough promise
    expect(out).to.include('"reason":"subscribed"');
    expect(out).to.include('"reason":"unsubscribed_topic"');
    expect(out).to.match(/^415$/m);
    expect(out).to.include('"granted":["sms","voice"]');
    expect(out).to.include('"revoked":["sms"]');
    expect(out).to.match(/"reason":"suppressed"[^\n]*\n?$/);
  });
});
