// npm run bench:replica: what a streaming read replica gives the check, on this machine. Needs
// PRIMARY_URL and REPLICA_URL (a hot standby of it; see docs/scaling.md for how one was made
// here) on the bench database. Measures, with the check's own statement (check_email_one):
//  1. reads/s on the primary and on the replica, 10 connections each, 8 s;
//  2. for 200 opt-outs written on the primary, the commit time and whether a check on the
//     replica right after the commit still saw the old state, first with asynchronous
//     replication, then with synchronous_commit = remote_apply (the commit returns once the
//     replica has applied it: "a check after an opt-out commits denies" holds on the replica).
// It changes synchronous_standby_names on the primary for the second part and puts it back.
import pg from 'pg';

const PRIMARY = process.env.PRIMARY_URL;
const REPLICA = process.env.REPLICA_URL;
if (!PRIMARY || !REPLICA) throw new Error('needs PRIMARY_URL and REPLICA_URL');
const STANDBY = process.env.STANDBY_NAME ?? 'replica1';

const CHECK = `select t.kind, t.channels, c.id as contact_id, c.optouts, coalesce(c.suppressed, false) as suppressed,
        c.paused_until
   from (select $1::text as email, $2::text as topic) v
   left join topics t on t.slug = v.topic
   left join contacts c on c.email_key = v.email and c.erased_at is null`;

async function readsPerSecond(url: string, seconds = 8, clients = 10) {
  const pool = new pg.Pool({ connectionString: url, max: clients });
  let n = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < until) {
        const i = 1 + Math.floor(Math.random() * 999_998);
        await pool.query({
          name: 'check_email_one',
          text: CHECK,
          values: [`b${i}@bench.example.org`, 'newsletter'],
        });
        n++;
      }
    }),
  );
  await pool.end();
  return Math.round(n / seconds);
}

async function optOuts(mode: 'async' | 'remote_apply', rounds = 200) {
  const primary = new pg.Client({ connectionString: PRIMARY });
  const replica = new pg.Client({ connectionString: REPLICA });
  await primary.connect();
  await replica.connect();
  if (mode === 'remote_apply') await primary.query('set synchronous_commit = remote_apply');
  const email = 'b500000@bench.example.org';
  // Put back afterwards: the bench database's other measures count on its opt-outs as loaded.
  const { rows: before } = await primary.query(
    'select optouts from contacts where email_key = $1 and erased_at is null',
    [email],
  );
  const commits: number[] = [];
  let stale = 0;
  for (let i = 0; i < rounds; i++) {
    const want = i % 2 ? '{}' : '{email:*}';
    const t0 = performance.now();
    await primary.query('begin');
    await primary.query(
      'update contacts set optouts = $1::text[] where email_key = $2 and erased_at is null',
      [want, email],
    );
    await primary.query('commit');
    commits.push(performance.now() - t0);
    const { rows } = await replica.query({
      name: 'check_email_one',
      text: CHECK,
      values: [email, 'newsletter'],
    });
    const seen = (rows[0].optouts as string[]).includes('email:*') ? '{email:*}' : '{}';
    if (seen !== want) stale++;
  }
  await primary.query('update contacts set optouts = $1::text[] where email_key = $2 and erased_at is null', [
    before[0]?.optouts ?? [],
    email,
  ]);
  await primary.end();
  await replica.end();
  commits.sort((a, b) => a - b);
  return {
    median: commits[Math.floor(rounds / 2)].toFixed(2),
    p99: commits[Math.floor(rounds * 0.99)].toFixed(2),
    stale,
    rounds,
  };
}

const admin = new pg.Client({ connectionString: PRIMARY });
await admin.connect();
console.log(`check reads/s, primary: ${await readsPerSecond(PRIMARY)}`);
console.log(`check reads/s, replica: ${await readsPerSecond(REPLICA)}`);
const lag = await admin.query('select replay_lag from pg_stat_replication limit 1');
console.log(
  `replay lag at rest: ${lag.rows[0]?.replay_lag ? JSON.stringify(lag.rows[0].replay_lag) : 'n/a'}`,
);
const a = await optOuts('async');
console.log(
  `async: commit median ${a.median} ms, p99 ${a.p99} ms; replica checks that missed the opt-out: ${a.stale} of ${a.rounds}`,
);
await admin.query(`alter system set synchronous_standby_names = '${STANDBY}'`);
await admin.query('select pg_reload_conf()');
await new Promise((r) => setTimeout(r, 1000));
try {
  const s = await optOuts('remote_apply');
  console.log(
    `remote_apply: commit median ${s.median} ms, p99 ${s.p99} ms; replica checks that missed the opt-out: ${s.stale} of ${s.rounds}`,
  );
} finally {
  await admin.query('alter system reset synchronous_standby_names');
  await admin.query('select pg_reload_conf()');
  await admin.end();
}
