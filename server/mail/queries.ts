// The mail part's SQL: stored messages (the gateway's outbox and SendGrid's), Idempotency-Keys
// and the claims of SendGrid events already applied.
import type { Knex } from 'knex';
import { affectedRows } from '../db.ts';

type Q = Knex | Knex.Transaction;

export interface MessageRow {
  id: string;
  contact_id: string | null;
  to_email: string;
  from_email: string;
  topic: string;
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string> | string;
  status: string;
  reason: string | null;
  transport: string;
  provider_message_id: string | null;
  provider_error: string | null;
  attempts: number;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
}

export function messageRow(q: Q, id: string) {
  return q<MessageRow>('messages').where({ id }).first();
}

export function newestMessages(q: Q, limit: number) {
  return q<MessageRow>('messages').orderBy('created_at', 'desc').limit(limit);
}

/**
 * A page of the outbox, newest first: before a (created_at, id) place when given, and to
 * addresses starting with `to` when given (both through an index).
 */
export function outboxPage(
  q: Q,
  opts: { before?: { at: Date; id: string }; to?: string; limit: number },
): Promise<MessageRow[]> {
  const query = q<MessageRow>('messages')
    .select('id', 'to_email', 'topic', 'subject', 'status', 'reason', 'created_at')
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(opts.limit);
  if (opts.to) {
    const prefix = opts.to.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`);
    query.whereRaw('lower(to_email) like ?', [`${prefix}%`]);
  }
  if (opts.before) query.whereRaw('(created_at, id) < (?, ?)', [opts.before.at, opts.before.id]);
  return query as unknown as Promise<MessageRow[]>;
}

/** What a request run again under its Idempotency-Key already stored for one of its messages. */
export function messageUnderKey(q: Q, apiKeyId: string, key: string, index: number) {
  return q('messages')
    .where({ api_key_id: apiKeyId, idempotency_key: key, request_index: index })
    .whereNot('status', 'failed')
    .first('id', 'status', 'reason', 'transport');
}

export async function insertMessage(q: Q, row: Record<string, unknown>) {
  const [stored] = await q('messages').insert(row).returning('id');
  return stored.id as string;
}

export function updateMessage(q: Q, id: string, fields: Record<string, unknown>) {
  return q('messages').where({ id }).update(fields);
}

export function messageRef(
  q: Q,
  where: { id: string } | { provider_message_id: string },
): Promise<{ id: string; topic: string; status: string; account_id: string | null } | undefined> {
  const [column, value] = Object.entries(where)[0];
  return q('messages as m')
    .leftJoin('contacts as c', 'c.id', 'm.contact_id')
    .where(`m.${column}`, value)
    .first('m.id', 'm.topic', 'm.status', 'c.account_id');
}

export async function failPendingBefore(q: Q, before: Date, error: string, now: Date) {
  const settled = await q('messages')
    .where({ status: 'pending' })
    .where('created_at', '<', before)
    .update({ status: 'failed', provider_error: error, updated_at: now });
  return affectedRows(settled);
}

export function eraseMessages(trx: Knex.Transaction, contactId: string, emailHash: string) {
  return trx('messages')
    .where({ contact_id: contactId })
    .update({ to_email: emailHash, subject: '[erased]', html: null, text: null, headers: '{}' });
}

/** Claims a SendGrid event id; false when it was applied before. */
export async function claimProviderEvent(trx: Knex.Transaction, eventId: string) {
  const fresh = await trx('webhook_events')
    .insert({ provider: 'sendgrid', event_id: eventId })
    .onConflict(['provider', 'event_id'])
    .ignore()
    .returning('event_id');
  return fresh.length > 0;
}

// ---- Idempotency-Keys: one row per key and API key, leased while its request runs ----------

export async function claimKey(q: Q, apiKeyId: string, key: string, hash: string, leaseUntil: Date) {
  const claimed = await q('idempotency_keys')
    .insert({ api_key_id: apiKeyId, key, request_hash: hash, lease_until: leaseUntil })
    .onConflict(['api_key_id', 'key'])
    .ignore()
    .returning('key');
  return claimed.length > 0;
}

export function keyRow(q: Q, apiKeyId: string, key: string) {
  return q('idempotency_keys').where({ api_key_id: apiKeyId, key }).first();
}

export function renewKeyLease(q: Q, apiKeyId: string, key: string, leaseUntil: Date) {
  return q('idempotency_keys')
    .where({ api_key_id: apiKeyId, key })
    .whereNull('status_code')
    .update({ lease_until: leaseUntil });
}

export function storeKeyAnswer(q: Q, apiKeyId: string, key: string, status: number, body: unknown) {
  return q('idempotency_keys')
    .where({ api_key_id: apiKeyId, key })
    .update({ status_code: status, response: JSON.stringify(body), lease_until: null });
}

export function releaseKey(q: Q, apiKeyId: string, key: string) {
  return q('idempotency_keys').where({ api_key_id: apiKeyId, key }).del();
}

export function dropExpiredKey(q: Q, apiKeyId: string, key: string, createdAt: Date) {
  return q('idempotency_keys').where({ api_key_id: apiKeyId, key, created_at: createdAt }).del();
}

/** Takes over a key whose request stopped (its lease lapsed); false when another took it first. */
export async function takeLapsedKey(q: Q, apiKeyId: string, key: string, leaseUntil: Date) {
  const taken = await q('idempotency_keys')
    .where({ api_key_id: apiKeyId, key })
    .whereNull('status_code')
    .where((w) => w.whereNull('lease_until').orWhere('lease_until', '<=', new Date()))
    .update({ lease_until: leaseUntil });
  return affectedRows(taken) === 1;
}
