import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Keyed by the keyed hash (HASH_SECRET) of the lower-cased address, so an erased person stays
// suppressed without the address being kept anywhere.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table suppressions (
      email_hash text primary key,
      reason text not null check (reason in ('bounce', 'spam_complaint', 'erasure', 'manual')),
      actor text not null,
      created_at timestamptz not null default now()
    )`,
    // contacts.suppressed is a snapshot of this table, kept current in the same transaction by
    // both sides: a contact takes its state when its hash is written, and adding or lifting a
    // suppression marks every contact row with that hash (erased rows included).
    `create function contacts_take_suppression() returns trigger language plpgsql as $$
     begin
       new.suppressed := exists (select 1 from suppressions s where s.email_hash = new.email_hash);
       return new;
     end $$`,
    `create trigger contacts_take_suppression before insert or update of email_hash on contacts
       for each row execute function contacts_take_suppression()`,
    `create function suppressions_mark_contacts() returns trigger language plpgsql as $$
     begin
       if tg_op = 'INSERT' then
         update contacts set suppressed = true where email_hash = new.email_hash and not suppressed;
       else
         update contacts set suppressed = false where email_hash = old.email_hash and suppressed
           and not exists (select 1 from suppressions s where s.email_hash = old.email_hash);
       end if;
       return null;
     end $$`,
    `create trigger suppressions_mark_contacts after insert or delete on suppressions
       for each row execute function suppressions_mark_contacts()`,
  ]);
}
