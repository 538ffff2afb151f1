import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

export async function up(knex: Knex) {
  await runStatements(knex, [
    // Only the SHA-256 of a key is stored; the secret is shown once at creation.
    `create table api_keys (
      id uuid primary key default gen_random_uuid(),
      name text not null check (length(name) between 1 and 200),
      prefix text not null,
      key_hash text not null unique,
      scopes text[] not null check (cardinality(scopes) > 0 and scopes <@ array['check', 'send', 'contacts', 'events']),
      created_by text not null,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    )`,
    `create table staff_users (
      id uuid primary key default gen_random_uuid(),
      email text not null check (length(email) between 3 and 320),
      name text check (length(name) <= 200),
      password_hash text not null,
      role text not null check (role in ('owner', 'staff', 'customer_admin')),
      account_id uuid references accounts(id),
      failed_logins integer not null default 0,
      locked_until timestamptz,
      disabled_at timestamptz,
      created_at timestamptz not null default now(),
      constraint customer_admin_has_account check ((role = 'customer_admin') = (account_id is not null))
    )`,
    'create unique index staff_users_email on staff_users (lower(email))',
    `create table sessions (
      id_hash text primary key,
      user_id uuid not null references staff_users(id),
      csrf_token text not null,
      ip text,
      user_agent text,
      created_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`,
    'create index sessions_user on sessions (user_id)',
  ]);
}
