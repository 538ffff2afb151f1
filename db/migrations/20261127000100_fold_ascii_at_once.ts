import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';
import { FROM, TO } from './20261126001400_contact_search.ts';

// pc_fold (the console's accent- and case-blind name search, behind two indexes) ran every name
// through its table of 120 accented letters: 3.3 µs a call on PostgreSQL here against 0.26 for
// lower() alone, and a contact's insert calls it twice (both indexes), 6-7 µs of the 76-113 µs
// PostgreSQL spends on an imported row. A name of ASCII characters only has nothing to translate
// (the table holds no ASCII character), so it now goes to lower() at once. The result is the
// same for every input, so the indexes built with the old body stay right and are not rebuilt.
// "As many bytes as characters" means "ASCII only" in UTF-8; a database in another encoding (where
// an accented letter can be one byte) keeps the old body.
export async function up(knex: Knex) {
  const { rows } = await knex.raw("select current_setting('server_encoding') as encoding");
  if (rows[0].encoding !== 'UTF8') return;
  await runStatements(knex, [
    `create or replace function pc_fold(text) returns text language sql immutable parallel safe as
       $$ select case when octet_length($1) = length($1) then lower($1)
                      else lower(translate($1, '${FROM}', '${TO}')) end $$`,
  ]);
}
