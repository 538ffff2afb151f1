// npm run bench:schema-ab: one schema change against the schema as shipped, in ABBA pairs of the
// import's SQL-alone floor (bench/import.ts's schemaFloor: N contacts and their creation events
// written by SQL alone in one backend, rolled back), in a fresh database beside DATABASE_URL's
// (dropped afterwards). For effects of a few µs a row that bench:schema's single pass per round
// cannot tell from a noisy box: each cycle runs shipped, variant, variant, shipped (or the
// reverse), and the answer is the median difference and how many cycles agree.
//   DATABASE_URL=postgres://… npm run bench:schema-ab   (AB_ROWS=30000, AB_CYCLES=8, AB_ONLY=name)
import pg from 'pg';
import { FEED_LOCK } from '../db/migrations/20261126000300_event_feed.ts';
import { swapChecks } from '../db/migrations/20261128000300_checks_without_counted_repeats.ts';
import { migratedScratchDatabase, schemaFloor } from './import.ts';

const VARIANTS: Record<string, { label: string; ddl: string[] }> = {
  'checks-with-counted-repeats': {
    label: "the keyed hash's, the phone's and the actor's checks with counted repeats, as before session 24",
    ddl: swapChecks('old'),
  },
  'events-chain-all': {
    label: 'events_chain over every event, as before session 17',
    ddl: ['drop index events_chain', 'create index events_chain on events (chain, id)'],
  },
  'email-key-trigger-always': {
    label: 'contacts_default_email_key called for every row, as before session 17',
    ddl: [
      'drop trigger contacts_default_email_key on contacts',
      `create trigger contacts_default_email_key before insert or update of email on contacts
         for each row execute function contacts_default_email_key()`,
    ],
  },
  'suppression-by-row': {
    label: 'contacts_take_suppression once a row for inserts, as before session 17',
    ddl: [
      'drop trigger contacts_take_suppression_inserted on contacts',
      'drop trigger contacts_take_suppression on contacts',
      `create trigger contacts_take_suppression before insert or update of email_hash on contacts
         for each row execute function contacts_take_suppression()`,
    ],
  },
  'no-address-locks': {
    label: "new contacts without their addresses' locks, as before session 18",
    // the shipped function with its lock statement cut out, so nothing else differs
    ddl: [
      `do $$ begin
         execute regexp_replace(pg_get_functiondef('contacts_take_suppression_inserted'::regproc),
           'perform lock_addresses\\(.*?\\);', '');
       end $$`,
    ],
  },
  'feed-by-statement': {
    // A design measured, not shipped: a statement trigger gathers a statement's event ids into a
    // transaction-local setting, and the first deferred call at commit numbers all of them under
    // the feed's lock in one insert, in id order (a transaction's ids rise in insertion order);
    // the deferred calls after it find nothing left and return.
    label: "the feed's positions numbered once a transaction instead of an insert an event",
    ddl: [
      `create function gather_feed_ids() returns trigger language plpgsql as $$
       declare ids text := (select string_agg(id::text, ',' order by id) from added_events);
       begin
         if ids is not null then
           perform set_config('pc.feed_pending',
             coalesce(current_setting('pc.feed_pending', true), '') || ids || ',', true);
         end if;
         return null;
       end $$`,
      `create trigger events_gather_feed after insert on events referencing new table as added_events
         for each statement execute function gather_feed_ids()`,
      `create or replace function place_event_in_feed() returns trigger language plpgsql as $$
       declare pending text := current_setting('pc.feed_pending', true);
       begin
         if pending is null or pending = '' then return null; end if;
         perform pg_advisory_xact_lock(${FEED_LOCK});
         insert into event_feed (event_id)
           select x::bigint from unnest(string_to_array(rtrim(pending, ','), ',')) x order by x::bigint;
         perform set_config('pc.feed_pending', '', true);
         return null;
       end $$`,
    ],
  },
  'no-event-contact-fk': {
    label: 'events without their foreign key to contacts',
    ddl: ['alter table events drop constraint events_contact_id_fkey'],
  },
};

const base = process.env.DATABASE_URL;
if (!base) {
  console.error('needs DATABASE_URL');
  process.exit(2);
}
const rows = Number(process.env.AB_ROWS ?? 30_000);
const cycles = Number(process.env.AB_CYCLES ?? 8);
const only = process.env.AB_ONLY;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const scratch = await migratedScratchDatabase(base, 'pc_bench_schema_ab');
try {
  const c = new pg.Client({ connectionString: scratch.url });
  await c.connect();
  const lines: string[] = [];
  for (const [name, { label, ddl }] of Object.entries(VARIANTS)) {
    if (only && only !== name) continue;
    const diffs: number[] = [];
    for (let i = 0; i < cycles; i++) {
      const pair = i % 2 ? ['variant', 'shipped'] : ['shipped', 'variant'];
      const us: Record<string, number> = { shipped: 0, variant: 0 };
      for (const which of [...pair, ...[...pair].reverse()]) {
        const rate = await schemaFloor(scratch.url, rows, which === 'variant' ? ddl : []);
        us[which] += 1e6 / rate / 2;
        // the rolled-back rows leave dead index entries behind: cleared so each run starts alike
        await c.query('vacuum contacts, events, event_feed');
      }
      diffs.push(us.variant - us.shipped);
      console.log(
        `${name}, cycle ${i + 1}: shipped ${us.shipped.toFixed(1)}, variant ${us.variant.toFixed(1)} µs a row`,
      );
    }
    const slower = diffs.filter((d) => d > 0).length;
    lines.push(
      `| ${label} | ${median(diffs) > 0 ? '+' : ''}${median(diffs).toFixed(1)} µs | ${slower} of ${cycles} |`,
    );
  }
  await c.end();
  console.log(`\nThe import's floor, ${rows.toLocaleString()} rows, ${cycles} ABBA cycles:\n`);
  console.log('| variant | against shipped, median a row | cycles where the variant was slower |');
  console.log('| --- | --- | --- |');
  for (const l of lines) console.log(l);
} finally {
  await scratch.drop();
}
