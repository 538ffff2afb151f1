import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// A new contact takes its address's suppression as it is created: contacts.suppressed is what a
// check of a known address reads. It was a row trigger (contacts_take_suppression, before insert
// or update of email_hash) running `exists (select … from suppressions …)` once a row: an executor
// started and stopped for each contact, about 20 µs of an imported contact's ~150 of PostgreSQL
// on a two-core box (npm run bench:schema-ab, ABBA pairs: 0 of 6 cycles slower without it).
// Inserts now take it once a statement: an AFTER INSERT trigger over the statement's new rows
// (a transition table, filled by INSERT and COPY alike) sets `suppressed` from one join with
// suppressions wherever it differs, so a bulk insert pays one join and a writer that already
// gave the right value (the import, for lines that suppress) pays no update. It runs before the
// statement's caller sees it return, inside its transaction, for every writer, SQL by hand
// included. An address changed on an existing contact keeps the row trigger (an update of
// email_hash), as before.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'drop trigger contacts_take_suppression on contacts',
    `create trigger contacts_take_suppression before update of email_hash on contacts
       for each row execute function contacts_take_suppression()`,
    `create function contacts_take_suppression_inserted() returns trigger language plpgsql as $$
     begin
       update contacts c set suppressed = x.suppressed
         from (select n.id, exists (select 1 from suppressions s where s.email_hash = n.email_hash) as suppressed
                 from inserted_contacts n) x
        where c.id = x.id and c.suppressed is distinct from x.suppressed;
       return null;
     end $$`,
    `create trigger contacts_take_suppression_inserted after insert on contacts
       referencing new table as inserted_contacts
       for each statement execute function contacts_take_suppression_inserted()`,
  ]);
}
