import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// A contact and a suppression of its address, written at the same moment, each in its own
// transaction, could both miss the other: the contact's trigger looked for a suppression before
// the suppression committed, and the suppression's trigger marked the contacts it could see, not
// the one still uncommitted. Both committed and the contact stayed unsuppressed, so a check of
// it allowed marketing mail to an address that had bounced, complained or been erased. The
// same race, turned around, left a contact suppressed after its suppression was lifted.
//
// The two sides now meet on a lock of the address, taken by lock_addresses() before either
// looks at the other's table and held to the end of the transaction: giving contacts their
// addresses (an insert, an address changed in place) takes them shared, adding or lifting
// suppressions takes them exclusive. Whichever comes second waits for the first to end and
// then sees what it did. A lock is an advisory lock keyed by the address's keyed hash
// (ADDRESS_LOCK and hashtext, the two-number form, a namespace of its own), taken in sorted
// order so that two statements cannot wait on each other in a circle; only writers of the same
// address wait. A transaction takes at most ADDRESS_LOCKS_MAX of them (an import batch takes
// one a new contact and one a suppression: 4,000 at most); PostgreSQL's lock table holds about
// 12,000 at once with its defaults. Past that a statement locks the other side's table instead
// (share row exclusive: writers of the other side wait for the transaction to end, and it waits
// for theirs), so a bulk load by hand of any size still keeps the rule.
export const ADDRESS_LOCK = 7_283_502;
export const ADDRESS_LOCKS_MAX = 4_096;

// The statement triggers join a statement's rows (a transition table) with contacts or
// suppressions. PL/pgSQL plans such a statement once a connection and keeps the plan until the
// tables are analysed; planned while the tables were small, or with the transition table's size
// guessed, it hashed the whole of contacts for every statement: 40 suppressions took 50-100 ms
// against 300,000 contacts, 2,000 new contacts 250 ms, and a million-row import ran at half its
// rate. These functions plan with scans and hashes of whole tables ruled out, so each row of a
// statement is an index probe whatever the statistics say, the one-row cost the row triggers had.
// The contacts' trigger also stops probing contacts for rows inserted with the right value:
// 2,000 new contacts cost it 5 ms instead of 15 (psql, 300,000 contacts).
const INDEX_DRIVEN = 'set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off';

export async function up(knex: Knex) {
  await runStatements(knex, [
    `create function lock_addresses(hashes text[], exclusive boolean) returns void
       language plpgsql as $$
     declare
       held int := coalesce(nullif(current_setting('pc.address_locks', true), ''), '0')::int;
       keys int[];
     begin
       select array_agg(k order by k) into keys
         from (select distinct hashtext(h) as k from unnest(hashes) h where h is not null) d;
       if keys is null then return; end if;
       if held + cardinality(keys) > ${ADDRESS_LOCKS_MAX} then
         if exclusive then lock table contacts in share row exclusive mode;
         else lock table suppressions in share row exclusive mode;
         end if;
         return;
       end if;
       if exclusive then perform pg_advisory_xact_lock(${ADDRESS_LOCK}, k) from unnest(keys) k;
       else perform pg_advisory_xact_lock_shared(${ADDRESS_LOCK}, k) from unnest(keys) k;
       end if;
       perform set_config('pc.address_locks', (held + cardinality(keys))::text, true);
     end $$`,
    `create or replace function contacts_take_suppression() returns trigger language plpgsql as $$
     begin
       perform lock_addresses(array[new.email_hash], false);
       new.suppressed := exists (select 1 from suppressions s where s.email_hash = new.email_hash);
       return new;
     end $$`,
    `create or replace function contacts_take_suppression_inserted() returns trigger language plpgsql
       ${INDEX_DRIVEN} as $$
     begin
       perform lock_addresses(array(select email_hash from inserted_contacts), false);
       -- a row whose writer gave the right value (nearly all) is settled from the transition
       -- table alone; only the others are looked up in contacts and updated
       update contacts c set suppressed = x.held
         from (select n.id, n.suppressed as given,
                      exists (select 1 from suppressions s where s.email_hash = n.email_hash) as held
                 from inserted_contacts n) x
        where x.held is distinct from x.given and c.id = x.id and c.suppressed is distinct from x.held;
       return null;
     end $$`,
    // Once a statement, as the contacts' side: one join instead of an update a suppression.
    'drop trigger suppressions_mark_contacts on suppressions',
    'drop function suppressions_mark_contacts()',
    `create function suppressions_mark_contacts() returns trigger language plpgsql ${INDEX_DRIVEN} as $$
     begin
       perform lock_addresses(array(select email_hash from added_suppressions), true);
       update contacts c set suppressed = true
         from added_suppressions a where c.email_hash = a.email_hash and not c.suppressed;
       return null;
     end $$`,
    `create trigger suppressions_mark_contacts after insert on suppressions
       referencing new table as added_suppressions
       for each statement execute function suppressions_mark_contacts()`,
    `create function suppressions_unmark_contacts() returns trigger language plpgsql ${INDEX_DRIVEN} as $$
     begin
       perform lock_addresses(array(select email_hash from lifted_suppressions), true);
       update contacts c set suppressed = false
         from lifted_suppressions l
        where c.email_hash = l.email_hash and c.suppressed
          and not exists (select 1 from suppressions s where s.email_hash = l.email_hash);
       return null;
     end $$`,
    `create trigger suppressions_unmark_contacts after delete on suppressions
       referencing old table as lifted_suppressions
       for each statement execute function suppressions_unmark_contacts()`,
  ]);
}
