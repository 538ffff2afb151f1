import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// The console's dashboard reads weekly counts, not the ledger: on 5,000,000 events a count per
// week and topic over the ledger itself takes seconds. dashboard_weekly is derived from the
// ledger alone (plus one tally the ledger does not hold: marketing mail delivered, counted in
// the provider event's own transaction). It stays exact because it reads the ledger through
// the feed, whose positions follow commit order (no event commits behind a position already
// read), and the rows and dashboard_cursor move together in one transaction: every event is
// counted once. The dashboard adds the events past the cursor at read time, so its figures are
// live. The ledger is append-only, so a count never needs to go down.
// account_id is the contact's account when its events were rolled up (a zero uuid: none).
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table dashboard_weekly (
      week date not null,
      account_id uuid not null,
      metric text not null,
      channel text not null default '',
      topic text not null default '',
      reason text not null default '',
      n bigint not null,
      primary key (week, account_id, metric, channel, topic, reason)
    )`,
    'create index dashboard_weekly_account on dashboard_weekly (account_id, week)',
    `create table dashboard_cursor (
      one boolean primary key default true check (one),
      seq bigint not null,
      rolled_at timestamptz not null default now()
    )`,
    'insert into dashboard_cursor (seq) values (0)',
  ]);
}
