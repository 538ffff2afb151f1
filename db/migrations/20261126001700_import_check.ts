import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// An import can be checked first: the job reads every row and reports what it would do (the
// first rows, every error, duplicates within the file) and writes nothing; its upload is kept
// until staff import it or a day passes. A checked job ends in status 'checked'. A customer
// administrator's import is held to their account (account_only).
export async function up(knex: Knex) {
  await runStatements(knex, [
    'alter table import_jobs add column check_only boolean not null default false',
    // A customer administrator's import: every row goes into their account, no other.
    'alter table import_jobs add column account_only boolean not null default false',
    `alter table import_jobs add column preview jsonb not null default '[]'`,
    'alter table import_jobs drop constraint import_jobs_status_check',
    `alter table import_jobs add constraint import_jobs_status_check
       check (status in ('pending', 'running', 'done', 'failed', 'checked'))`,
  ]);
}
