import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// A person's request for a copy of their data or for its deletion. A one-time link mailed to the
// address proves the request is theirs (only its hash is kept). A deletion waits for staff or the
// customer administrator of the contact's account: approved (erasure) or declined with a reason
// within 45 days (`due_at`). Erasure clears the contact link; the row stays as the record.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table data_requests (
      id uuid primary key default gen_random_uuid(),
      contact_id uuid references contacts(id),
      account_id uuid references accounts(id),
      kind text not null check (kind in ('export', 'deletion')),
      status text not null check (status in ('awaiting_confirmation', 'ready', 'pending', 'approved', 'declined')),
      token_hash text not null unique,
      locale text,
      expires_at timestamptz not null,
      confirmed_at timestamptz,
      due_at timestamptz,
      decided_at timestamptz,
      decided_by text,
      reason text check (length(reason) <= 1000),
      created_at timestamptz not null default now()
    )`,
    'create index data_requests_open on data_requests (status, due_at)',
    'create index data_requests_contact on data_requests (contact_id)',
  ]);
}
