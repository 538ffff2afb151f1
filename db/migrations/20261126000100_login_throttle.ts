import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

export async function up(knex: Knex) {
  await runStatements(knex, [
    // Console sign-in throttling, shared by every process: one row per (address, IP) pair and
    // one per IP, keyed by a keyed hash (no address or IP is stored). Never a lockout: rows only
    // make a caller wait.
    `create table login_throttle (
      key text primary key,
      failures integer not null default 0,
      window_start timestamptz not null,
      blocked_until timestamptz,
      updated_at timestamptz not null default now()
    )`,
    'create index login_throttle_updated on login_throttle (updated_at)',
  ]);
}
