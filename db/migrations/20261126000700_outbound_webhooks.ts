import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Outbound webhooks (SPEC "Outbound webhooks"): each endpoint is delivered from its own cursor
// over the events feed (cursor_seq: the feed position delivered up to), one event at a time,
// in feed order. Nothing per event is stored but the delivery log: a million-event import is
// not a million jobs per endpoint. A dispatcher holds an endpoint by a short lease, so any
// number of processes may run dispatchers.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'alter table api_keys drop constraint api_keys_scopes_check',
    `alter table api_keys add constraint api_keys_scopes_check check (cardinality(scopes) > 0 and
       scopes <@ array['check', 'send', 'contacts', 'events', 'webhooks'])`,
    `create table webhook_endpoints (
      id uuid primary key default gen_random_uuid(),
      url text not null check (length(url) <= 2000),
      description text check (length(description) <= 500),
      events text[] not null check (cardinality(events) > 0),
      secret text not null,
      previous_secret text,
      previous_secret_until timestamptz,
      first_party boolean not null default false,
      cursor_seq bigint not null,
      state text not null default 'active' check (state in ('active', 'paused')),
      paused_at timestamptz,
      attempts integer not null default 0,
      failing_since timestamptz,
      next_attempt_at timestamptz not null default now(),
      lease_until timestamptz,
      last_attempt_at timestamptz,
      last_status integer,
      last_error text,
      last_success_at timestamptz,
      created_by text not null,
      created_at timestamptz not null default now()
    )`,
    `create table webhook_deliveries (
      id bigserial primary key,
      endpoint_id uuid not null references webhook_endpoints(id) on delete cascade,
      event_id bigint not null,
      seq bigint not null,
      attempt integer not null,
      status integer,
      error text,
      duration_ms integer not null,
      created_at timestamptz not null default now()
    )`,
    'create index webhook_deliveries_endpoint on webhook_deliveries (endpoint_id, id desc)',
  ]);
}
