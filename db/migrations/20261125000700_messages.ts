import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table messages (
      id uuid primary key default gen_random_uuid(),
      api_key_id uuid references api_keys(id),
      contact_id uuid references contacts(id),
      to_email text not null,
      from_email text not null,
      topic text not null references topics(slug),
      subject text not null,
      html text,
      text text,
      headers jsonb not null default '{}',
      status text not null check (status in ('pending', 'sent', 'failed', 'suppressed', 'delivered', 'bounced', 'dropped', 'deferred', 'opened', 'clicked', 'spam_reported', 'unsubscribed')),
      reason text,
      transport text not null check (transport in ('sendgrid', 'outbox')),
      provider_message_id text,
      provider_error text,
      attempts integer not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      sent_at timestamptz
    )`,
    'create index messages_contact on messages (contact_id)',
    'create index messages_created on messages (created_at desc)',
    'create index messages_provider_id on messages (provider_message_id) where provider_message_id is not null',
    `create table idempotency_keys (
      api_key_id uuid not null references api_keys(id),
      key text not null check (length(key) between 1 and 255),
      request_hash text not null,
      status_code integer,
      response jsonb,
      created_at timestamptz not null default now(),
      primary key (api_key_id, key)
    )`,
    'create index idempotency_keys_created on idempotency_keys (created_at)',
  ]);
}
