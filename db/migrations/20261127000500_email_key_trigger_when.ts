import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// contacts_default_email_key gives a key to an address written without one (SQL by hand); every
// writer in the service gives the key itself. The function did nothing for those rows, but each
// of them still paid a PL/pgSQL call: 1.1 and 11.3 µs of an imported contact's ~120-150 in two
// series of ABBA pairs on a two-core box (npm run bench:schema-ab; the old trigger slower in 6 of
// 8 and 4 of 6 cycles). The same test as a WHEN clause is evaluated inline, so the
// function now runs only for the rows it changes. Same rule, same trigger name; no table lock
// beyond the moment of the swap.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'drop trigger contacts_default_email_key on contacts',
    `create trigger contacts_default_email_key before insert or update of email on contacts
       for each row when (new.email_key is null) execute function contacts_default_email_key()`,
  ]);
}
