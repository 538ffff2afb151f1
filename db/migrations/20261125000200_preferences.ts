import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// One row per contact, channel and marketing topic the contact has chosen for; topic null is the
// channel's "all marketing" switch. No row means the default: subscribed (marketing is opt-out).
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table preferences (
      id bigserial primary key,
      contact_id uuid not null references contacts(id),
      channel text not null check (channel in ('email', 'sms', 'voice')),
      topic text references topics(slug),
      status text not null check (status in ('subscribed', 'unsubscribed')),
      updated_at timestamptz not null default now()
    )`,
    'create unique index preferences_topic on preferences (contact_id, channel, topic) where topic is not null',
    'create unique index preferences_all on preferences (contact_id, channel) where topic is null',
    `create function refresh_contact_optouts() returns trigger language plpgsql as $$
    declare
      cid uuid := case when tg_op = 'DELETE' then old.contact_id else new.contact_id end;
    begin
      update contacts set optouts = coalesce((
        select array_agg(p.channel || ':' || coalesce(p.topic, '*') order by p.channel, p.topic)
        from preferences p where p.contact_id = cid and p.status = 'unsubscribed'), '{}')
      where id = cid;
      return null;
    end $$`,
    `create trigger preferences_refresh_optouts after insert or update or delete on preferences
      for each row execute function refresh_contact_optouts()`,
  ]);
}
