// npm run bench:webhooks — first delivery attempt after the commit, with events flowing at a
// target rate (SPEC: p95 within 2 s at 1,000 events/s). The real dispatcher in this process,
// a local receiver answering 204; DATABASE_URL (a scratch PostgreSQL) or PGlite. The latency of
// an event is its arrival at the receiver minus the end of the transaction that wrote it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { migrateLatest } from '../db/migrate.ts';
import { loadConfig } from '../server/config.ts';
import { upsertContact } from '../server/contacts/service.ts';
import type { Core } from '../server/core.ts';
import { createDb } from '../server/db.ts';
import { createLedger } from '../server/ledger/ledger.ts';
import { setPreferences } from '../server/preferences/service.ts';
import { createDispatcher } from '../server/webhooks/dispatcher.ts';
import { createEndpoint } from '../server/webhooks/service.ts';

const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const url = process.env.DATABASE_URL;
const config = loadConfig({
  NODE_ENV: 'test',
  TOKEN_SECRET: `b1:${'bench'.repeat(8)}`,
  HASH_SECRET: 'bench-hash-secret-bench-hash-secret-0000',
  ...(url ? { DATABASE_URL: url } : {}),
});
const db = await createDb(url ? { databaseUrl: url, poolSize: 20 } : { memory: true });
await migrateLatest(db.knex, { hashSecret: config.hashSecret });
const core = { config, db, ledger: createLedger(config.hashSecret) } as Core;
const system = { actor: 'system' as const };

const committedAt = new Map<string, number>(); // contact id + n -> when its transaction ended
const latencies: number[] = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => {
    body += c;
  });
  req.on('end', () => {
    const ev = JSON.parse(body);
    const t = committedAt.get(`${ev.contactId}:${ev.newValue}:${ev.topic}`);
    if (t !== undefined) latencies.push(Date.now() - t);
    res.writeHead(204).end();
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
await db.knex('webhook_endpoints').del();
await createEndpoint(
  core,
  system,
  { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, events: ['preference.changed'] },
  { production: false, allowPrivate: false },
);
const people: string[] = [];
for (let i = 0; i < 200; i++) {
  people.push(
    (await upsertContact(core, system, `wh.${randomBytes(5).toString('hex')}@bench.example.org`, {})).contact
      .id,
  );
}
const dispatcher = createDispatcher(core, pino({ level: 'warn' }), {
  production: false,
  allowPrivate: false,
});
dispatcher.start();

// Writers: RATE changes a second, each its own transaction, spread over the second.
const total = RATE * SECONDS;
let n = 0;
const t0 = Date.now();
const writers = Array.from({ length: 16 }, async () => {
  while (n < total) {
    const i = n++;
    const due = t0 + (i * 1000) / RATE;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const contact = people[i % people.length];
    const status = Math.floor(i / people.length) % 2 ? 'subscribed' : 'unsubscribed';
    const topic = ['newsletter', 'offers', 'events'][i % 3];
    await setPreferences(core, system, contact, [{ channel: 'email', topic, status }]);
    committedAt.set(`${contact}:${status}:${topic}`, Date.now());
  }
});
await Promise.all(writers);
const wrote = (Date.now() - t0) / 1000;
for (let i = 0; i < 600 && latencies.length < total * 0.99; i++) await new Promise((r) => setTimeout(r, 50));
await dispatcher.stop();
server.close();
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
console.log(
  `${url ? 'PostgreSQL' : 'PGlite'}: ${total} changes written in ${wrote.toFixed(1)} s (${Math.round(total / wrote)}/s); ` +
    `${latencies.length} delivered; first attempt after commit p50 ${pct(50)} ms, p95 ${pct(95)} ms, max ${latencies[latencies.length - 1]} ms (SPEC: p95 within 2 s)`,
);
await db.close();
