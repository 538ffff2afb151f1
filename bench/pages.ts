// npm run bench:pages: the recipient pages alone against the baseline, the way npm run bench
// measures them (alternating rounds at 50 connections, the server started as npm start starts
// it), for trying a change to the pages in two minutes rather than six. npm run bench is the
// measure of record. Needs DATABASE_URL on the bench database (npm run bench loads it).
import pg from 'pg';
import { cannon, compiled, pageUrls, serverEnv, startServer, stopServers } from './production.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) throw new Error('needs DATABASE_URL (the bench database)');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const c = new pg.Client({ connectionString: URL_ });
await c.connect();
const { rows } = await c.query(`select id from contacts where email = 'b1@bench.example.org'`);
await c.end();
if (!rows.length) throw new Error('no bench contact: run npm run bench once to load the bench database');
const contactId = rows[0].id as string;

try {
  await startServer(
    compiled('server/index.ts'),
    // BENCH_PAGE_RATE_LIMIT=1000000 measures what the per-IP page limiter costs a page without
    // ever limiting (the default, 0, has no limit: one load generator is one IP).
    serverEnv(URL_, { PAGE_RATE_LIMIT: process.env.BENCH_PAGE_RATE_LIMIT ?? '0' }),
    39_411,
  );
  await startServer(
    compiled('bench/baseline.ts'),
    { DATABASE_URL: URL_, BENCH_CONTACT_ID: contactId },
    39_412,
  );
  const base = 'http://127.0.0.1:39412/baseline';
  const { unsubscribe: u, preferences: p } = pageUrls('http://127.0.0.1:39411', contactId);
  for (const [url, body] of [
    [base, '{}'],
    [u, null],
    [p, null],
  ] as const)
    await cannon(url, body, {}, 2);
  const ratios: { u: number; p: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const b = (await cannon(base, '{}', {}, SECONDS)).requests.average;
    const ru = await cannon(u, null, {}, SECONDS);
    const rp = await cannon(p, null, {}, SECONDS);
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
  stopServers();
}
