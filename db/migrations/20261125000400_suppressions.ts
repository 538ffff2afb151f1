import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Keyed by the keyed hash (HASH_SECRET) of the lower-cased address, so an erased person stays
// suppressed without the address being kept anywhere.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table suppressions (
      email_hash text primary key,
      reason text not null check (reason in ('bounce', 'spam_complaint', 'erasure', 'manual')),
      actor text not null,
      created_at timestamptz not null default now()
    )`,
  ]);
}
