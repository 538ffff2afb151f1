import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// A check reads four columns of one contact found by its address: its id, opt-outs, suppression
// and pause. The address index now carries them (INCLUDE), so PostgreSQL answers a check from the
// index alone (an index-only scan) wherever the visibility map says the page is settled, which
// autovacuum keeps true for all but recently written contacts. Measured on a million contacts:
// a probe takes half the time (no visit to the table's page), and the stream of a million
// recipients is bound by exactly these probes (docs/scaling.md). The index replaces the unique
// one of the same name, so a new contact does not maintain one index more.
// The price: a change of opt-outs, suppression or pause now rewrites the index entry, so those
// updates are no longer heap-only (HOT) and touch the table's other indexes too; those are the
// rare writes, a check is the common read.
// On a large live table, build it by hand first, outside a transaction and without blocking
// writes (`create unique index concurrently contacts_email_key_covering …`), then run this.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create unique index if not exists contacts_email_key_covering on contacts (email_key)
       include (id, optouts, suppressed, paused_until) where erased_at is null`,
    'drop index contacts_email_key',
    'alter index contacts_email_key_covering rename to contacts_email_key',
  ]);
}
