import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// A number typed on the preference page (or the one on file) is confirmed with a one-time code
// texted to it before consent is recorded: a person can only consent for a number they hold.
// Only the code's keyed hash is stored; it expires in 10 minutes.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table phone_confirmations (
      id uuid primary key default gen_random_uuid(),
      contact_id uuid not null references contacts(id),
      phone text not null,
      channels text[] not null,
      disclosure_versions jsonb not null,
      locale text,
      code_hash text not null,
      expires_at timestamptz not null,
      attempts integer not null default 0,
      confirmed_at timestamptz,
      ip text,
      user_agent text,
      created_at timestamptz not null default now()
    )`,
    'create index phone_confirmations_phone on phone_confirmations (phone, created_at)',
    'create index phone_confirmations_contact on phone_confirmations (contact_id, created_at)',
  ]);
}
