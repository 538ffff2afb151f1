import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Telephone rules by jurisdiction: the contact's region (ISO 3166-2, e.g. US-FL) picks its
// state's rules; send records count marketing texts and calls per number and topic for the
// states' frequency limits. A send record is written by a check with "reserve": true, atomically
// with its allowed answer, and by nothing else.
export async function up(knex: Knex) {
  await runStatements(knex, [
    "alter table contacts add column region text check (region ~ '^[A-Z]{2}-[A-Z0-9]{1,3}$')",
    `create table send_records (
      id uuid primary key default gen_random_uuid(),
      phone text not null,
      channel text not null check (channel in ('sms', 'voice')),
      topic text not null references topics(slug),
      contact_id uuid references contacts(id),
      api_key_id uuid references api_keys(id),
      reservation_key text check (length(reservation_key) between 1 and 255),
      reserved_at timestamptz not null default now(),
      released_at timestamptz
    )`,
    'create index send_records_window on send_records (phone, topic, reserved_at)',
    `create unique index send_records_key on send_records (api_key_id, reservation_key)
      where reservation_key is not null`,
  ]);
}
