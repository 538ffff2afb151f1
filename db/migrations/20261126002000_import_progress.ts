import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// An import's progress as a share of its file: its size, and how much of it the job has read
// and written (at its last checkpoint), so the progress page can show a real bar and a time left
// for a million-row file instead of a count that only grows.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'alter table import_jobs add column file_bytes bigint not null default 0',
    'alter table import_jobs add column read_bytes bigint not null default 0',
  ]);
}
