import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// events_chain ((chain, id), every event) existed to find a chain's last event, the predecessor a
// new event's hash points at. For a contact's chain ("contact:<id>", nearly every event there is)
// events_contact ((contact_id, id)) finds the same row, so the ledger now looks contact chains up
// there, and events_chain keeps only the events of no contact: account chains and the system chain,
// a few rows a tenant. Each contact event then maintains one index fewer, and a text one: 44 bytes
// of "contact:<uuid>" compared under the database's collation, about a fifth of an event's bytes
// on disk with its indexes. Creating the partial index reads the table once under a lock that
// holds writes to events (no reads); the old index goes in the same transaction.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'create index events_chain_not_contact on events (chain, id) where contact_id is null',
    'drop index events_chain',
    'alter index events_chain_not_contact rename to events_chain',
  ]);
}
