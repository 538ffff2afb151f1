import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Imports run as durable jobs: the upload is kept in the database (any process can resume it,
// and nothing is left in a temporary directory of a process that died), in parts of about 1 MB
// that are deleted when the import ends. `resume_record` is the checkpoint: the number of CSV
// records whose effects (and counts) are known to be written; a resumed run skips them.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'alter table import_jobs add column resume_record integer not null default 0',
    'alter table import_jobs add column default_account text',
    `create table import_uploads (
      import_id uuid not null references import_jobs(id) on delete cascade,
      part integer not null,
      data bytea not null,
      primary key (import_id, part)
    )`,
  ]);
}
