import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// A contact may pause all marketing email for a while instead of leaving. The check reads
// paused_until from the contact row it already loads (no extra probe); the partial index lets
// the sweep that writes "the pause ended" find due pauses without scanning every contact.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'alter table contacts add column paused_until timestamptz',
    'create index contacts_paused_until on contacts (paused_until) where paused_until is not null',
  ]);
}
