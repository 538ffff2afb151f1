import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table import_jobs (
      id uuid primary key default gen_random_uuid(),
      created_by uuid references staff_users(id),
      account_id uuid references accounts(id),
      filename text,
      status text not null default 'pending' check (status in ('pending', 'running', 'done', 'failed')),
      total_rows integer not null default 0,
      processed_rows integer not null default 0,
      imported_rows integer not null default 0,
      failed_rows integer not null default 0,
      errors jsonb not null default '[]',
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz
    )`,
    // Provider event ids already applied: a replayed webhook changes nothing.
    `create table webhook_events (
      provider text not null check (provider in ('sendgrid', 'sms')),
      event_id text not null,
      received_at timestamptz not null default now(),
      primary key (provider, event_id)
    )`,
  ]);
}
