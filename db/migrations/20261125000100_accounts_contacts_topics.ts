import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table accounts (
      id uuid primary key default gen_random_uuid(),
      external_id text not null unique check (length(external_id) between 1 and 200),
      name text check (length(name) <= 200),
      agreement_status text not null default 'none' check (agreement_status in ('none', 'signed', 'terminated')),
      agreement_signed_at timestamptz,
      agreement_reference text check (length(agreement_reference) <= 200),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint signed_needs_evidence check (
        agreement_status <> 'signed' or (agreement_signed_at is not null and agreement_reference is not null))
    )`,
    // Email is kept as written (trimmed, +tags kept); identity is its lower-case form.
    // optouts is a snapshot of the contact's unsubscribed preferences ("email:*", "sms:offers"),
    // kept current by a trigger on preferences so the send check reads one row. email_hash is
    // the keyed hash (HASH_SECRET) of the lower-cased address, written by the app; suppressed
    // mirrors the suppressions table for that hash (triggers in the suppressions migration), so
    // a check of a known address costs one index probe and no HMAC.
    `create table contacts (
      id uuid primary key default gen_random_uuid(),
      email text not null check (length(email) between 3 and 320),
      name text check (length(name) <= 200),
      phone text check (phone ~ '^\\+[1-9][0-9]{6,14}$'),
      locale text check (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
      time_zone text check (length(time_zone) <= 64),
      account_id uuid references accounts(id),
      optouts text[] not null default '{}',
      email_hash text not null check (email_hash ~ '^[0-9a-f]{64}$'),
      suppressed boolean not null default false,
      erased_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`,
    // Erased rows keep the keyed hash as their email and may repeat if an address comes back
    // and is erased again, so uniqueness applies to live contacts only.
    'create unique index contacts_email_lower on contacts (lower(email)) where erased_at is null',
    'create unique index contacts_phone on contacts (phone) where phone is not null',
    'create index contacts_account on contacts (account_id)',
    'create index contacts_email_hash on contacts (email_hash)',
    `create table topics (
      slug text primary key check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      name text not null check (length(name) between 1 and 200),
      description text check (length(description) <= 1000),
      kind text not null check (kind in ('marketing', 'operational')),
      channels text[] not null check (cardinality(channels) > 0 and channels <@ array['email', 'sms', 'voice']),
      sendgrid_group_id integer unique,
      position integer not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`,
    `insert into topics (slug, name, description, kind, channels, position) values
      ('newsletter', 'Newsletter', 'Our regular newsletter with news and stories.', 'marketing', '{email}', 10),
      ('product-updates', 'Product updates', 'New features and improvements.', 'marketing', '{email,sms}', 20),
      ('events', 'Events and webinars', 'Invitations to events, webinars and meetups.', 'marketing', '{email,sms,voice}', 30),
      ('offers', 'Offers and promotions', 'Discounts, promotions and special offers.', 'marketing', '{email,sms,voice}', 40),
      ('account', 'Account notices', 'Messages about your account, orders, billing and replies to your requests.', 'operational', '{email,sms,voice}', 100),
      ('administrative', 'Administrative notices', 'Changes to terms, policies and service.', 'operational', '{email,sms}', 110),
      ('security', 'Security and fraud alerts', 'Sign-in, security and fraud warnings.', 'operational', '{email,sms,voice}', 120)`,
  ]);
}
