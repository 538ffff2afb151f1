import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// The console's outbox is paged newest first (keyset on created_at, id) and searched by the
// start of the recipient's address: both read an index, not the whole table.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'create index messages_newest on messages (created_at desc, id desc)',
    'create index messages_to_email on messages (lower(to_email) text_pattern_ops, created_at desc)',
  ]);
}
