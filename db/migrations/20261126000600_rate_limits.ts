import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Rate-limit counters shared by every process (express-rate-limit's store): one row per limit
// and key (keys are keyed hashes or IPs, never an address), a fixed window each.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table rate_limits (
      key text primary key,
      hits integer not null,
      reset_at timestamptz not null
    )`,
    'create index rate_limits_reset on rate_limits (reset_at)',
  ]);
}
