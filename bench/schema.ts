// npm run bench:schema: what each part of the schema costs an imported contact. The import's
// floor (bench/import.ts: N contacts and their contact.created events written by SQL alone in
// one backend, feed positions included, rolled back) is measured as shipped and with groups of
// indexes or triggers dropped inside the same rolled-back transaction, in alternating rounds, in
// a fresh database beside DATABASE_URL's (dropped afterwards). A price list for a decision about
// the schema, not a proposal to drop anything: every index here serves a console search, a
// tenant's listing or the ledger's reads. One pass a variant a round, in a fixed order: on a noisy
// box an effect under ~10 µs a row needs `npm run bench:schema-ab` (ABBA pairs) to be told apart.
//   DATABASE_URL=postgres://… npm run bench:schema   (SCHEMA_ROWS=100000, SCHEMA_ROUNDS=3)
import pg from 'pg';
import { migratedScratchDatabase, schemaFloor } from './import.ts';

const SEARCH_INDEXES = [
  'contacts_name_words',
  'contacts_name_folded',
  'contacts_email_domain',
  'contacts_phone_last4',
];
const CONTACT_TRIGGERS = ['contacts_take_suppression_inserted', 'contacts_default_email_key'];
const EVENT_INDEXES = ['events_account', 'events_chain', 'events_contact', 'events_time'];

const dropIndexes = (names: string[]) => names.map((n) => `drop index ${n}`);
const dropContactTriggers = CONTACT_TRIGGERS.map((t) => `drop trigger ${t} on contacts`);
const dropFeedTrigger = ['drop trigger events_place_in_feed on events'];

const VARIANTS: [string, string[]][] = [
  ['as shipped', []],
  [
    "without the name-word GIN index (the console's search by any word of a name)",
    dropIndexes(SEARCH_INDEXES.slice(0, 1)),
  ],
  [`without the console's four search indexes (${SEARCH_INDEXES.join(', ')})`, dropIndexes(SEARCH_INDEXES)],
  ...CONTACT_TRIGGERS.map((t): [string, string[]] => [
    `without the trigger ${t} on contacts`,
    [`drop trigger ${t} on contacts`],
  ]),
  [
    'with contacts_default_email_key called for every row, as before session 17 (now: WHEN the key is null)',
    [
      'drop trigger contacts_default_email_key on contacts',
      `create trigger contacts_default_email_key before insert or update of email on contacts
         for each row execute function contacts_default_email_key()`,
    ],
  ],
  ['without the feed trigger (events_place_in_feed, deferred, a row each)', dropFeedTrigger],
  [
    'with events_chain over every event, as before session 17 (now: only the events of no contact)',
    ['drop index events_chain', 'create index events_chain on events (chain, id)'],
  ],
  [`without the events' four secondary indexes (${EVENT_INDEXES.join(', ')})`, dropIndexes(EVENT_INDEXES)],
  [
    'without all of the above',
    [
      ...dropIndexes(SEARCH_INDEXES),
      ...dropContactTriggers,
      ...dropFeedTrigger,
      ...dropIndexes(EVENT_INDEXES),
    ],
  ],
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const base = process.env.DATABASE_URL;
if (!base) {
  console.error('needs DATABASE_URL');
  process.exit(2);
}
const rows = Number(process.env.SCHEMA_ROWS ?? 100_000);
const rounds = Number(process.env.SCHEMA_ROUNDS ?? 3);
const scratch = await migratedScratchDatabase(base, 'pc_bench_schema');
const url = scratch.url;
try {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const perRow = VARIANTS.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let v = 0; v < VARIANTS.length; v++) {
      const rate = await schemaFloor(url, rows, VARIANTS[v][1]);
      perRow[v].push(1e6 / rate);
      // The rolled-back rows leave dead index entries behind: cleared so each variant starts alike.
      await c.query('vacuum contacts, events, event_feed');
    }
    console.log(`round ${r + 1}: ${perRow.map((x) => x[r].toFixed(1)).join(' / ')} µs a row`);
  }
  await c.end();
  const shipped = median(perRow[0]);
  console.log(
    `\nThe import's floor, ${rows.toLocaleString()} contacts and their creation events by SQL alone in one backend (median of ${rounds} rounds):\n`,
  );
  console.log('| schema | µs a row | rows/s | saved |');
  console.log('| --- | --- | --- | --- |');
  VARIANTS.forEach(([label], v) => {
    const us = median(perRow[v]);
    const saved =
      v === 0 ? '' : `${(shipped - us).toFixed(1)} µs (${((100 * (shipped - us)) / shipped).toFixed(0)} %)`;
    console.log(`| ${label} | ${us.toFixed(1)} | ${Math.round(1e6 / us).toLocaleString()} | ${saved} |`);
  });
} finally {
  await scratch.drop();
}
