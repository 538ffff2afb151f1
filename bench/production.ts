// How `npm start` runs the server, for the benchmarks to run the same: its Node flags, and the
// compiled JavaScript in dist/ (built here first, as npm start's prestart builds it). A measure
// of the TypeScript sources under type stripping would carry the stripper's ~20 MB and not be
// what production runs. The baseline and the import run compiled too, from dist/bench. Also
// the two things every load bench does: start a compiled server, and load it at 50 connections.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import autocannon from 'autocannon';
import { createApiKey } from '../server/admin/api-keys.ts';
import { parseTokenKeys } from '../server/config.ts';
import { createDb } from '../server/db.ts';
import { createLedger } from '../server/ledger/ledger.ts';
import { signToken } from '../server/tokens/tokens.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');

/** The bench's secrets (the bench database's keyed hashes were made with HASH_SECRET). */
export const HASH_SECRET = process.env.HASH_SECRET ?? 'bench-hash-secret-bench-hash-secret-0000';
export const TOKEN_SECRET = process.env.TOKEN_SECRET ?? `b1:${'bench'.repeat(8)}`;

/** The service's environment for a bench on `databaseUrl` (no per-IP page limit: one load generator is one IP). */
export function serverEnv(databaseUrl: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: databaseUrl,
    HASH_SECRET,
    TOKEN_SECRET,
    BASE_URL: 'https://prefs.example.com',
    MIGRATE_ON_START: 'false',
    PAGE_RATE_LIMIT: '0',
    ...extra,
  };
}

/** A contact's two recipient pages on a server at `origin` (its unsubscribe link for the newsletter, its preference center). */
export function pageUrls(origin: string, contactId: string) {
  const keys = parseTokenKeys(TOKEN_SECRET, []);
  return {
    unsubscribe: `${origin}/u/${signToken(keys, { purpose: 'unsubscribe', contactId, topic: 'newsletter' })}`,
    preferences: `${origin}/preferences/${signToken(keys, { purpose: 'preferences', contactId, topic: null })}`,
  };
}

/** The single check every bench tool measures: a known address, the newsletter, with the caller's key. */
export function checkRequest(origin: string, email: string, apiKey: string) {
  return {
    url: `${origin}/api/v1/send-permission`,
    body: JSON.stringify({ channel: 'email', recipient: email, topic: 'newsletter' }),
    headers: { authorization: `Bearer ${apiKey}` },
  };
}

/** One loaded bench contact (the second: the bench's own rounds use the first), for the tools that load one page or check. */
export async function benchContact(databaseUrl: string): Promise<{ id: string; email: string }> {
  const db = await createDb({ databaseUrl });
  try {
    const row = await db
      .knex('contacts')
      .where('email', 'like', 'b%@bench.example.org')
      .offset(1)
      .first('id', 'email');
    if (!row) throw new Error('no bench contacts: run npm run bench once to load them');
    return row;
  } finally {
    await db.close();
  }
}

/** A new API key with the check scope on the bench database; returns its secret. */
export async function checkApiKey(databaseUrl: string, name: string) {
  const db = await createDb({ databaseUrl });
  try {
    const { secret } = await createApiKey(
      db.knex,
      createLedger(Buffer.from(HASH_SECRET)),
      { actor: 'system' },
      { name, scopes: ['check'] },
    );
    return secret;
  } finally {
    await db.close();
  }
}

const scripts = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts;

/** The flags a package.json script gives Node before `dist/server/<entry>.js`. */
const flagsOf = (script: string, entry: string) =>
  (new RegExp(`\\bnode\\s+((?:--\\S+\\s+)*)dist/server/${entry}\\.js`).exec(script)?.[1] ?? '')
    .split(' ')
    .filter(Boolean);

/** The flags `npm start` gives Node (BENCH_NODE_FLAGS to try others). */
export const NODE_FLAGS =
  process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? flagsOf(scripts.start, 'index');

/** The flags `npm run worker` gives Node, for the import (BENCH_WORKER_FLAGS to try others). */
export const WORKER_NODE_FLAGS =
  process.env.BENCH_WORKER_FLAGS?.split(' ').filter(Boolean) ?? flagsOf(scripts.worker, 'worker');

/** Builds dist/ (npm run build) and returns the compiled path of a source file (server/index.ts → dist/server/index.js). */
export function compiled(source: string): string {
  if (!built) {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
    built = true;
  }
  return path.join(ROOT, 'dist', source.replace(/\.ts$/, '.js'));
}
let built = false;

const children: ChildProcess[] = [];
/** Stops every server startServer started (also done when this process exits). */
export function stopServers() {
  for (const c of children) c.kill('SIGTERM');
}
process.on('exit', stopServers);

/** Starts a compiled script with npm start's flags on `port` and waits for its /healthz; stopped when this process exits. */
export async function startServer(
  script: string,
  env: NodeJS.ProcessEnv,
  port: number,
  extraFlags: string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...extraFlags, script], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  for (let i = 0; i < 600 && !exited; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return { child, port };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${script} did not start on port ${port}`);
}

/** 50 connections for `seconds`: a GET when body is null, otherwise a JSON POST. */
export function cannon(url: string, body: string | null, headers: Record<string, string>, seconds: number) {
  return new Promise<autocannon.Result>((resolve, reject) => {
    autocannon(
      {
        url,
        method: body === null ? 'GET' : 'POST',
        ...(body === null ? {} : { body }),
        headers: body === null ? headers : { 'content-type': 'application/json', ...headers },
        connections: 50,
        duration: seconds,
      },
      (err: Error | null, res: autocannon.Result) => (err ? reject(err) : resolve(res)),
    );
  });
}

/** A step coprime with `contacts`, so `i * step % contacts` visits every contact once a cycle. */
function scatterStep(contacts: number) {
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  let step = 7919;
  while (gcd(step, contacts) !== 1) step += 2;
  return step;
}

/**
 * Streams `n` bench addresses (b0…, cycling over `contacts`) through /send-permission/stream
 * without links and counts the answer lines and the allowed ones as they arrive. In `keys`
 * order consecutive lines are neighbours in the address index (b5000, b5001, …), as a list
 * sorted by address would be; `scattered` takes them 7,919 apart, as a list in signup order
 * meets the index: each probe lands on a page of its own.
 */
export async function stream(
  port: number,
  apiKey: string,
  n: number,
  contacts: number,
  order: 'keys' | 'scattered' = 'keys',
) {
  const step = order === 'scattered' ? scatterStep(contacts) : 1;
  const t0 = process.hrtime.bigint();
  let lines = 0;
  let allowed = 0;
  await new Promise<void>((resolve, reject) => {
    const req = http.request(
      {
        port,
        method: 'POST',
        path: '/api/v1/send-permission/stream?channel=email&topic=newsletter',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'text/plain' },
      },
      (res) => {
        let rest = '';
        res.setEncoding('utf8');
        // Counted with indexOf rather than split(): the load generator shares the two cores
        // with the server and PostgreSQL, so it should spend as little as it can.
        res.on('data', (chunk: string) => {
          const text = rest + chunk;
          const end = text.lastIndexOf('\n');
          if (end < 0) {
            rest = text;
            return;
          }
          for (let at = text.indexOf('\n'); at !== -1 && at <= end; at = text.indexOf('\n', at + 1)) lines++;
          for (
            let at = text.indexOf('"allowed":true');
            at !== -1 && at < end;
            at = text.indexOf('"allowed":true', at + 14)
          )
            allowed++;
          rest = text.slice(end + 1);
        });
        res.on('end', resolve);
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    let i = 0;
    const write = () => {
      while (i < n) {
        let chunk = '';
        for (let j = 0; j < 2000 && i < n; j++, i++) chunk += `b${(i * step) % contacts}@bench.example.org\n`;
        if (!req.write(chunk)) return req.once('drain', write);
      }
      req.end();
    };
    write();
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { lines, allowed, seconds, perSecond: lines / seconds };
}
