import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Gateway recovery. A request interrupted by a crash or a database blip held its Idempotency-Key
// "in progress" for 24 hours, and a retry under a new key re-sent what SendGrid had accepted.
// - An in-progress key is a lease (`lease_until`, renewed while the request runs): once it
//   lapses, a retry with the same key takes the request over.
// - Each message sent under a key remembers it and its place in the request, so the request
//   run again answers from what was already stored and sends only what never was.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'alter table idempotency_keys add column lease_until timestamptz',
    'alter table messages add column idempotency_key text',
    'alter table messages add column request_index integer',
    // a failed message leaves the index: the request run again may try that message anew
    `create unique index messages_idempotent on messages (api_key_id, idempotency_key, request_index)
      where idempotency_key is not null and status <> 'failed'`,
    "create index messages_pending on messages (created_at) where status = 'pending'",
  ]);
}
