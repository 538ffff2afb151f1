import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// The brand owners edit in the console: one row, each field null until edited (the BRAND_*
// variables give the defaults). Changes are on the ledger (`brand.updated`).
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table brand (
      id integer primary key default 1 check (id = 1),
      name text check (length(name) between 1 and 60),
      logo_url text check (length(logo_url) <= 500),
      color text check (color ~ '^#[0-9a-fA-F]{6}$'),
      postal_address text check (length(postal_address) <= 300),
      privacy_url text check (length(privacy_url) <= 500),
      support_contact text check (length(support_contact) <= 200),
      updated_by text,
      updated_at timestamptz not null default now()
    )`,
  ]);
}
