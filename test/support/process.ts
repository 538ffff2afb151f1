// Runs the real entry points (npm start, npm run cli) as child processes.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEST_HASH_SECRET, TEST_TOKEN_SECRET } from './app.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
// The Node that runs the tests (npm's PATH puts the project's pinned Node 24 first).
const NODE = process.execPath;

export function tempDataDir() {
  return mkdtempSync(path.join(tmpdir(), 'pc-data-'));
}

export function baseEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    TOKEN_SECRET: TEST_TOKEN_SECRET,
    HASH_SECRET: TEST_HASH_SECRET,
  };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(NODE, ['server/cli.ts', ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Servers a test started and did not see exit: killed with the test process (mocha --exit
// does not wait for them; a server left running holds its memory, port and data directory).
const spawned = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of spawned) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
});

export interface Running {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts server/index.ts on a free port and resolves once it logs that it listens; with `npm`,
 * through `npm start` exactly as the README and the Procfile run it.
 */
export function startServer(env: NodeJS.ProcessEnv, opts: { npm?: boolean } = {}): Promise<Running> {
  const [command, args] = opts.npm ? ['npm', ['start', '--silent']] : [NODE, ['server/index.ts']];
  // Its own process group, so whatever a test leaves running (npm's node child included) can be
  // ended as a whole when the test process exits.
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  spawned.add(child);
  child.on('exit', () => spawned.delete(child));
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on http:\/\/localhost:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out, exited });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
}
