import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// The ledger: append-only, refused UPDATE/DELETE/TRUNCATE by the database itself, one keyed hash
// chain per subject ("contact:<id>", "account:<id>", "system"). It holds ids, codes and keyed
// hashes only, never a name, address, phone number or free text.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table events (
      id bigserial primary key,
      occurred_at timestamptz not null,
      chain text not null,
      contact_id uuid references contacts(id),
      account_id uuid references accounts(id),
      type text not null check (type ~ '^[a-z_]+\\.[a-z_]+$'),
      channel text check (channel in ('email', 'sms', 'voice')),
      topic text,
      old_value text,
      new_value text,
      data jsonb not null default '{}',
      actor text not null check (actor ~ '^(recipient|system|staff:[^ ]+|apikey:[^ ]+|provider:(sendgrid|sms)|import:[^ ]+)$'),
      ip text,
      user_agent text,
      prev_hash text,
      hash text not null
    )`,
    'create index events_chain on events (chain, id)',
    'create index events_contact on events (contact_id, id)',
    'create index events_account on events (account_id, id)',
    'create index events_time on events (occurred_at)',
    `create trigger events_append_only before update or delete on events
      for each row execute function refuse_change()`,
    `create trigger events_no_truncate before truncate on events
      for each statement execute function refuse_change()`,
  ]);
}
