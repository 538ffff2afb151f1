import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// The bulk import writes a new contact with its opt-outs already in contacts.optouts, then its
// preference rows. The trigger that keeps optouts current rewrote the contact row for every
// preference row even when nothing changed (a new row version and an entry in each of the
// contact's dozen indexes); it now writes only when the list differs. Same result, fewer writes
// for every writer.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create or replace function refresh_contact_optouts() returns trigger language plpgsql as $$
    declare
      cid uuid := case when tg_op = 'DELETE' then old.contact_id else new.contact_id end;
      now_out text[] := coalesce((
        select array_agg(p.channel || ':' || coalesce(p.topic, '*') order by p.channel, p.topic)
        from preferences p where p.contact_id = cid and p.status = 'unsubscribed'), '{}');
    begin
      update contacts set optouts = now_out where id = cid and optouts is distinct from now_out;
      return null;
    end $$`,
  ]);
}
