// npm run bench:pages: the recipient pages alone against the baseline, the way npm run bench
// measures them (alternating rounds at 50 connections, the server started as npm start starts
// it), for trying a change to the pages in two minutes rather than six. npm run bench is the
// measure of record. Needs DATABASE_URL on the bench database (npm run bench loads it).
import { type ChildProcess, spawn } from 'node:child_process';
import autocannon from 'autocannon';
import pg from 'pg';
import { parseTokenKeys } from '../server/config.ts';
import { signToken } from '../server/tokens/tokens.ts';
import { compiled, NODE_FLAGS as FLAGS, ROOT } from './production.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) throw new Error('needs DATABASE_URL (the bench database)');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const TOKEN_SECRET = process.env.TOKEN_SECRET ?? `b1:${'bench'.repeat(8)}`;
const HASH_SECRET = process.env.HASH_SECRET ?? 'bench-hash-secret-bench-hash-secret-0000';
const c = new pg.Client({ connectionString: URL_ });
await c.connect();
const { rows } = await c.query(`select id from contacts where email = 'b1@bench.example.org'`);
await c.end();
if (!rows.length) throw new Error('no bench contact: run npm run bench once to load the bench database');
const contactId = rows[0].id as string;

const children: ChildProcess[] = [];
async function start(script: string, port: number, env: Record<string, string>) {
  const child = spawn(process.execPath, [...FLAGS, script], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${script} did not start`);
}
const cannon = (url: string, post: boolean, seconds: number) =>
  new Promise<autocannon.Result>((resolve, reject) =>
    autocannon(
      {
        url,
        method: post ? 'POST' : 'GET',
        ...(post ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}),
        connections: 50,
        duration: seconds,
      },
      (err: Error | null, r: autocannon.Result) => (err ? reject(err) : resolve(r)),
    ),
  );

try {
  await start(compiled('server/index.ts'), 39_411, {
    DATABASE_URL: URL_,
    HASH_SECRET,
    TOKEN_SECRET,
    BASE_URL: 'https://prefs.example.com',
    MIGRATE_ON_START: 'false',
    // 0: no per-IP page limit (one load generator is one IP). BENCH_PAGE_RATE_LIMIT=1000000
    // measures what the per-IP page limiter costs a page without ever limiting.
    PAGE_RATE_LIMIT: process.env.BENCH_PAGE_RATE_LIMIT ?? '0',
  });
  await start(compiled('bench/baseline.ts'), 39_412, { DATABASE_URL: URL_, BENCH_CONTACT_ID: contactId });
  const keys = parseTokenKeys(TOKEN_SECRET, []);
  const base = 'http://127.0.0.1:39412/baseline';
  const u = `http://127.0.0.1:39411/u/${signToken(keys, { purpose: 'unsubscribe', contactId, topic: 'newsletter' })}`;
  const p = `http://127.0.0.1:39411/preferences/${signToken(keys, { purpose: 'preferences', contactId, topic: null })}`;
  for (const [url, post] of [
    [base, true],
    [u, false],
    [p, false],
  ] as const)
    await cannon(url, post, 2);
  const ratios: { u: number; p: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const b = (await cannon(base, true, SECONDS)).requests.average;
    const ru = await cannon(u, false, SECONDS);
    const rp = await cannon(p, false, SECONDS);
    if (ru.non2xx || rp.non2xx) throw new Error('a page did not answer 200');
    ratios.push({ u: ru.requests.average / b, p: rp.requests.average / b });
    console.log(
      `round ${r + 1}: baseline ${Math.round(b)}, /u ${Math.round(ru.requests.average)} (${(100 * ratios[r].u).toFixed(0)}%), /preferences ${Math.round(rp.requests.average)} (${(100 * ratios[r].p).toFixed(0)}%)`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `median: /u ${(100 * median(ratios.map((x) => x.u))).toFixed(0)}%, /preferences ${(100 * median(ratios.map((x) => x.p))).toFixed(0)}% of the baseline`,
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
}
