import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// The events feed's order. Event ids are handed out when a row is inserted, long before its
// transaction commits, so "id greater than the last id seen" skips events that commit late (248
// of 900 during 300 concurrent unsubscribes). A feed position is handed out at COMMIT instead:
// a deferred constraint trigger takes one advisory lock at commit time, numbers the
// transaction's events, and the commit releases the lock. Positions therefore follow commit
// order: by the time a reader can see position n, every smaller position is visible too, and
// a consumer that passes the position of the last event it received sees every event once.
// Each contact's events keep their order (one contact's writers are serialised by its row lock,
// and one transaction's events are numbered in insertion order).
// The catch: event-writing commits pass through that lock one at a time (measured in the note
// of issue 15 and in docs/feed.md).
export const FEED_LOCK = 7_283_501;

export async function up(knex: Knex) {
  await runStatements(knex, [
    // No foreign key to events: the trigger only ever writes ids it was handed, and the ledger
    // tamper drills (which delete rows with the guards off) must meet the ledger's own check.
    `create table event_feed (
      seq bigserial primary key,
      event_id bigint not null unique
    )`,
    'insert into event_feed (event_id) select id from events order by id',
    `create trigger event_feed_append_only before update or delete on event_feed
      for each row execute function refuse_change()`,
    `create function place_event_in_feed() returns trigger language plpgsql as $$
     begin
       perform pg_advisory_xact_lock(${FEED_LOCK});
       insert into event_feed (event_id) values (new.id);
       return null;
     end $$`,
    `create constraint trigger events_place_in_feed after insert on events
      deferrable initially deferred for each row execute function place_event_in_feed()`,
  ]);
}
