import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Texts the center sends itself (consent confirmations, one-time codes): through Twilio when it
// is configured, else kept here as the local outbox. Erasure anonymises the number.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table text_messages (
      id uuid primary key default gen_random_uuid(),
      contact_id uuid references contacts(id),
      to_phone text not null,
      kind text not null check (kind in ('consent_confirmation', 'confirmation_code')),
      body text not null,
      transport text not null check (transport in ('twilio', 'outbox')),
      status text not null check (status in ('sent', 'failed')),
      provider_sid text,
      provider_error text,
      created_at timestamptz not null default now()
    )`,
    'create index text_messages_contact on text_messages (contact_id)',
  ]);
}
