import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// One-time links for console users: an invitation (72 h), a password reset (24 h) and, on a
// first start with no user at all, the link that creates the first owner. Only a hash of the
// token is kept; a link is used once. The sign-in throttle remembers (as a keyed hash) which
// address a per-address-and-IP row belongs to, so an owner can clear it for one user.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table staff_links (
      token_hash text primary key,
      purpose text not null check (purpose in ('invite', 'reset', 'first_owner')),
      staff_id uuid references staff_users(id) on delete cascade,
      expires_at timestamptz not null,
      used_at timestamptz,
      created_at timestamptz not null default now(),
      check ((purpose = 'first_owner') = (staff_id is null))
    )`,
    'create index staff_links_staff on staff_links (staff_id)',
    'alter table login_throttle add column address text',
    'create index login_throttle_address on login_throttle (address) where address is not null',
  ]);
}
