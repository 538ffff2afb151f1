// npm run bench:dashboard: the console's dashboard on the bench database (1,000,000 contacts,
// from npm run bench) with 5,000,000 ledger events over the last twelve weeks. Loads the events
// once (straight SQL: the bench ledger's hashes are not a chain, this is for speed only), rolls
// them up, then times the whole page (GET /admin through the real app, signed in) for an owner
// and for a customer administrator, with the roll-up caught up and with a live tail of 20,000
// events past it. Median and worst of 7 each. SPEC/#19: under 300 ms.
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { migrateLatest } from '../db/migrate.ts';
import { createStaffUser } from '../server/admin/staff.ts';
import { createApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { rollUpLedger } from '../server/dashboard/service.ts';
import { createDb } from '../server/db.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) throw new Error('needs DATABASE_URL (the bench database, loaded by npm run bench)');
const EVENTS = Number(process.env.BENCH_EVENTS ?? 5_000_000);
const HASH_SECRET = process.env.HASH_SECRET ?? 'bench-hash-secret-bench-hash-secret-0000';

const c = new pg.Client({ connectionString: URL_ });
await c.connect();
const db = await createDb({ databaseUrl: URL_, statementTimeoutMs: 600_000 });
await migrateLatest(db.knex, { hashSecret: Buffer.from(HASH_SECRET) });

// One account holds a tenth of the contacts (the customer administrator's view).
await c.query(
  `insert into accounts (external_id, name) values ('bench-acct', 'Bench account') on conflict (external_id) do nothing`,
);
const account = (await c.query(`select id from accounts where external_id = 'bench-acct'`)).rows[0].id;
await c.query(
  `update contacts set account_id = $1 where email like 'b%0@bench.example.org' and account_id is distinct from $1`,
  [account],
);

const have = Number(
  (await c.query(`select count(*)::int as n from events where chain like 'bench:%'`)).rows[0].n,
);
if (have < EVENTS) {
  const t0 = Date.now();
  process.stdout.write(`loading ${(EVENTS - have).toLocaleString()} events… `);
  await c.query('begin');
  // The feed's trigger numbers events one at a time at commit; for a bulk load the feed rows
  // are written after, in id order (the order the trigger would give one loading transaction).
  await c.query('alter table events disable trigger events_place_in_feed');
  const from = Number((await c.query(`select coalesce(max(id), 0) as m from events`)).rows[0].m);
  const BATCH = 500_000;
  for (let done = have; done < EVENTS; done += BATCH) {
    const n = Math.min(BATCH, EVENTS - done);
    await c.query(
      `insert into events (occurred_at, chain, contact_id, type, channel, topic, old_value, new_value, data, actor, hash)
       select now() - (random() * interval '83 days'), 'bench:' || (g % 1000), ct.id, k.type, k.channel, k.topic,
              k.old_value, k.new_value, '{}'::jsonb, 'system', md5(g::text)
         from generate_series($2::int, $2::int + $1::int - 1) g
         join (select id, (row_number() over ())::int - 1 as rn from contacts
                where email like 'b%@bench.example.org') ct on ct.rn = (g::bigint * 7919) % 1000000
         cross join lateral (select * from (values
           (0, 'preference.changed', 'email', 'newsletter', 'subscribed', 'unsubscribed'),
           (1, 'preference.changed', 'email', 'offers', 'subscribed', 'unsubscribed'),
           (2, 'preference.changed', 'email', '*', 'subscribed', 'unsubscribed'),
           (3, 'preference.changed', 'email', '*', 'subscribed', 'paused'),
           (4, 'preference.changed', 'email', '*', 'paused', 'subscribed'),
           (5, 'preference.feedback', 'email', 'newsletter', null, 'too_many'),
           (6, 'preference.feedback', 'email', 'offers', null, 'not_relevant'),
           (7, 'consent.granted', 'sms', null, null, 'granted'),
           (8, 'consent.revoked', 'sms', null, 'granted', 'revoked'),
           (9, 'suppression.added', 'email', null, null, 'bounce'),
           (10, 'suppression.added', 'email', null, null, 'spam_complaint'),
           (11, 'contact.updated', null, null, null, null)
         ) v(k, type, channel, topic, old_value, new_value) where v.k = g % 12) k`,
      [n, done],
    );
    process.stdout.write('.');
  }
  await c.query('insert into event_feed (event_id) select id from events where id > $1 order by id', [from]);
  await c.query('alter table events enable trigger events_place_in_feed');
  await c.query('commit');
  await c.query('analyze events');
  await c.query('analyze event_feed');
  console.log(` ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

let t0 = Date.now();
const rolled = await rollUpLedger(db.knex);
console.log(`roll-up: ${rolled.toLocaleString()} events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

const config = loadConfig({
  ...process.env,
  NODE_ENV: 'production',
  HASH_SECRET,
  TOKEN_SECRET: process.env.TOKEN_SECRET ?? `b1:${'bench'.repeat(8)}`,
  BASE_URL: 'https://127.0.0.1',
  LOG_LEVEL: 'warn',
  DATABASE_URL: URL_,
});
const app = createApp({ config, db });
const server = app.listen(0);
await new Promise((r) => server.once('listening', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function signIn(role: 'owner' | 'customer_admin') {
  const email = `bench-${role}-${Date.now()}@example.com`;
  const password = 'correct horse battery staple';
  await createStaffUser(
    db.knex,
    app.locals.ctx.ledger,
    { actor: 'system' },
    {
      email,
      password,
      role,
      accountExternalId: role === 'customer_admin' ? 'bench-acct' : undefined,
    },
  );
  const login = await fetch(`${base}/admin/login`);
  const cookies = login.headers.getSetCookie().map((s) => s.split(';')[0]);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await login.text())?.[1] ?? '';
  const res = await fetch(`${base}/admin/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies.join('; ') },
    body: new URLSearchParams({ email, password, csrf }).toString(),
  });
  return [...cookies, ...res.headers.getSetCookie().map((s) => s.split(';')[0])].join('; ');
}

async function time(label: string, cookie: string) {
  const ms: number[] = [];
  for (let i = 0; i < 8; i++) {
    const t = performance.now();
    const res = await fetch(`${base}/admin`, { headers: { cookie } });
    const body = await res.text();
    if (res.status !== 200 || !body.includes('Opt-outs per week'))
      throw new Error(`GET /admin: ${res.status}`);
    if (i > 0) ms.push(performance.now() - t); // the first warms the view cache
  }
  ms.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(52)} median ${ms[3].toFixed(0).padStart(4)} ms, worst ${ms[6].toFixed(0).padStart(4)} ms`,
  );
}

const owner = await signIn('owner');
const tenant = await signIn('customer_admin');
await rollUpLedger(db.knex);
await time('GET /admin, owner (caught up)', owner);
await time('GET /admin, customer administrator (caught up)', tenant);

// A live tail: 20,000 events past the roll-up (a busy minute), counted at read time.
await c.query('begin');
await c.query('alter table events disable trigger events_place_in_feed');
const tailFrom = Number((await c.query(`select max(id) as m from events`)).rows[0].m);
await c.query(
  `insert into events (occurred_at, chain, contact_id, type, channel, topic, old_value, new_value, data, actor, hash)
   select now(), 'bench:tail', ct.id,
          'preference.changed', 'email', 'newsletter', 'subscribed', 'unsubscribed', '{}', 'system', md5(g::text)
     from generate_series(1, 20000) g
     join (select id, (row_number() over ())::int as rn from contacts
            where email like 'b%@bench.example.org' limit 20000) ct on ct.rn = g`,
);
await c.query('insert into event_feed (event_id) select id from events where id > $1 order by id', [
  tailFrom,
]);
await c.query('alter table events enable trigger events_place_in_feed');
await c.query('commit');
await time('GET /admin, owner (20,000 events past the roll-up)', owner);
await time('GET /admin, customer administrator (20,000 past)', tenant);
t0 = Date.now();
await rollUpLedger(db.knex);
console.log(`roll-up of the tail: ${Date.now() - t0} ms`);

server.close();
await db.close();
await c.end();
process.exit(0);
