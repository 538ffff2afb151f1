// npm run bench:key-probe: what the address key's collation costs a probe of the address index.
// On the bench database (DATABASE_URL, 1,000,000 contacts: run `npm run bench` once first), the
// stream's own sparse read (EMAIL_SPARSE_SQL) of 200,000 random addresses in batches of 5,000,
// priced in the backend's CPU (from /proc: PostgreSQL must run on this machine), with the key
// under "C" (as shipped), under the database's own collation and under ICU's English, each
// index freshly built inside a transaction that is rolled back (nothing is changed), alternating.
//   DATABASE_URL=postgres://… npm run bench:key-probe   (KEY_PROBE_ROUNDS=4)
import pg from 'pg';
import { EMAIL_SPARSE_SQL, emailLines } from '../server/permission/queries.ts';
import { cpuSecondsOf } from './cpu.ts';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('needs DATABASE_URL (the bench database)');
  process.exit(2);
}
const rounds = Number(process.env.KEY_PROBE_ROUNDS ?? 4);
const c = new pg.Client({ connectionString: url });
await c.connect();
const { rows } = await c.query(
  'select email_key from contacts where erased_at is null order by random() limit 200000',
);
const keys = rows.map((r: { email_key: string }) => r.email_key);
const {
  rows: [{ pid }],
} = await c.query('select pg_backend_pid() as pid');
let statement = 0;
async function pass() {
  const name = `key_probe_${statement++}`; // a fresh plan for each index
  const c0 = cpuSecondsOf(pid);
  for (let i = 0; i < keys.length; i += 5000)
    await c.query({ name, text: EMAIL_SPARSE_SQL, values: [emailLines(keys.slice(i, i + 5000))] });
  return ((cpuSecondsOf(pid) - c0) * 1e6) / keys.length;
}
async function variant(ddl: string) {
  await c.query('begin');
  try {
    await c.query(ddl);
    await pass(); // warm
    return (((await pass()) + (await pass())) / 2).toFixed(2);
  } finally {
    await c.query('rollback');
  }
}
const { rows: icu } = await c.query("select 1 from pg_collation where collname = 'en-x-icu'");
const VARIANTS: [string, string][] = [
  ['"C" (as shipped)', 'reindex index contacts_email_key'],
  [
    "the database's collation",
    'alter table contacts alter column email_key type text collate pg_catalog."default"',
  ],
  ...(icu.length
    ? [
        ['ICU English', 'alter table contacts alter column email_key type text collate "en-x-icu"'] as [
          string,
          string,
        ],
      ]
    : []),
];
for (let r = 0; r < rounds; r++) {
  const out: string[] = [];
  for (const [label, ddl] of VARIANTS) out.push(`${label} ${await variant(ddl)} µs`);
  console.log(`round ${r + 1}: ${out.join(', ')} an address (backend CPU)`);
}
await c.end();
