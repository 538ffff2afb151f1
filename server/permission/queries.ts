// The reads behind a decision: one round trip per check (or per batch), index probes only.
// Prepared statements on PostgreSQL; the contact row carries its opt-outs as a snapshot kept
// current by a trigger on preferences, so no join over preference rows is needed.

import type { Knex } from 'knex';
import { affectedRows, type Db, queryIn } from '../db.ts';
import type { AgreementStatus } from '../domain.ts';

export interface EmailStateRow {
  kind: 'marketing' | 'operational' | null;
  channels: string[] | null;
  contact_id: string | null;
  optouts: string[] | null;
  suppressed: boolean;
  paused_until: Date | null;
}

export interface PhoneStateRow {
  contact_id: string | null;
  optouts: string[] | null;
  time_zone: string | null;
  agreement_status: AgreementStatus | null;
  consent: 'granted' | 'revoked' | null;
  region: string | null;
  recent_sends: (Date | string)[] | null;
}

export interface TopicRow {
  slug: string;
  kind: 'marketing' | 'operational';
  channels: string[];
}

/**
 * One email recipient and the topic, in one statement: the contact row carries its opt-outs and
 * its suppression, so a known address is one index probe. For an unknown address `suppressed`
 * is false here; the caller asks `suppressedHashes` (that needs the keyed hash).
 */
export async function emailStateWithTopic(db: Db, email: string, topic: string) {
  const [row] = await db.read<EmailStateRow>('check_email_one', EMAIL_ONE_SQL, [email, topic]);
  return row;
}

// Every column a check reads of a contact is in the address index (its INCLUDE list), so these
// reads are index-only scans on a vacuumed table: a probe never visits the table's pages.
export const EMAIL_ONE_SQL = `select t.kind, t.channels, c.id as contact_id, c.optouts,
            coalesce(c.suppressed, false) as suppressed, c.paused_until
       from (select $1::text as email, $2::text as topic) v
       left join topics t on t.slug = v.topic
       left join contacts c on c.email_key = v.email and c.erased_at is null`;

/** One email recipient's state in a batch (the topic is the caller's). */
export type EmailRecipientRow = Omit<EmailStateRow, 'kind' | 'channels'> & { known: boolean };

// The batch's addresses, each with its position, against the live contact holding it, and the
// columns of its state: shared by the full and the sparse read so they cannot drift apart.
const EMAIL_STATE_COLUMNS = `(c.id is not null) as known, c.optouts,
            coalesce(c.suppressed, false) as suppressed, c.paused_until`;
// The addresses go as one text of lines, not a text[]: checked addresses hold no line break,
// and splitting lines costs PostgreSQL and pg a fraction of an array literal's quoting and
// parsing (a stream sends a million of them).
const EMAIL_RECIPIENTS = `string_to_table($1::text, E'\\n') with ordinality as v(email, i)
       left join contacts c on c.email_key = v.email and c.erased_at is null`;

/** Checked addresses as the one parameter EMAIL_MANY_SQL and EMAIL_SPARSE_SQL read: a line each. */
export function emailLines(emails: readonly string[]): string {
  for (const e of emails)
    if (e === '' || e.includes('\n')) throw new Error('emailLines: an address that was not checked');
  return emails.join('\n');
}

/** Many email recipients with their contact ids, answered in input order (duplicates included). */
export function emailStates(db: Db, emails: string[]) {
  return db.read<EmailRecipientRow>('check_email_many', EMAIL_MANY_SQL, [emailLines(emails)]);
}

export const EMAIL_MANY_SQL = `select c.id as contact_id, ${EMAIL_STATE_COLUMNS}
       from ${EMAIL_RECIPIENTS}
      order by v.i`;

/**
 * Many email recipients for a stream (no contact ids), sparsely: rows come back only for
 * recipients whose state is not the common one, a live contact with no opt-out, no suppression
 * and no pause; `i` is the recipient's 1-based position. The caller fills the rest with that
 * state (`CLEAN_EMAIL_STATE`), so `decide` sees exactly what a full row would have said. Most
 * of a real list is known and clean, and without ids (a million uuids are a noticeable share of
 * a stream's time when no link needs them) a stream of a million often parses a tenth as many rows.
 */
export function emailStatesSparse(db: Db, emails: string[]) {
  return db.read<EmailRecipientRow & { i: number }>('check_email_sparse', EMAIL_SPARSE_SQL, [
    emailLines(emails),
  ]);
}

export const EMAIL_SPARSE_SQL = `select v.i::int4 as i, null as contact_id, ${EMAIL_STATE_COLUMNS}
       from ${EMAIL_RECIPIENTS}
      where c.id is null or c.optouts <> '{}' or c.suppressed or c.paused_until is not null`;

/** What a row of `emailStates` says of a live contact with no opt-out, suppression or pause. */
export const CLEAN_EMAIL_STATE: EmailRecipientRow = Object.freeze({
  contact_id: null,
  known: true,
  optouts: [],
  suppressed: false,
  paused_until: null,
});

/** Which of these keyed hashes are suppressed (addresses no live contact holds, e.g. erased). */
export async function suppressedHashes(db: Db, hashes: string[]): Promise<Set<string>> {
  const rows = await db.read<{ email_hash: string }>(
    'suppressed_hashes',
    'select email_hash from suppressions where email_hash = any($1::text[])',
    [hashes],
  );
  return new Set(rows.map((r) => r.email_hash));
}

/**
 * Many phone recipients for one channel, in input order. Consent is the newest record for this
 * number and channel given by the contact who holds the number now: consent never moves with a
 * number to another person.
 */
export function phoneStates(db: Db, phones: string[], channel: 'sms' | 'voice', topic: string, since: Date) {
  return db.read<PhoneStateRow>('check_phone_many_v2', PHONE_STATES_SQL, [phones, channel, topic, since]);
}

/** The same, inside a transaction (a reserving check decides and records under one lock). */
export async function phoneStatesIn(
  trx: Knex.Transaction,
  phones: string[],
  channel: 'sms' | 'voice',
  topic: string,
  since: Date,
) {
  return queryIn<PhoneStateRow>(trx, PHONE_STATES_SQL, [phones, channel, topic, since]);
}

// Consent is the newest record for this number and channel given by the contact who holds the
// number now; recent sends are the unreleased send records of the last 24 h for number and topic.
const PHONE_STATES_SQL = `select c.id as contact_id, c.optouts, c.time_zone, c.region, a.agreement_status,
            (select k.status from consents k
              where k.phone = v.phone and k.channel = $2 and k.contact_id = c.id
              order by k.created_at desc limit 1) as consent,
            (select array_agg(s.reserved_at order by s.reserved_at) from send_records s
              where s.phone = v.phone and s.topic = $3 and s.released_at is null and s.reserved_at > $4) as recent_sends
       from unnest($1::text[]) with ordinality as v(phone, i)
       left join contacts c on c.phone = v.phone and c.erased_at is null
       left join accounts a on a.id = c.account_id
      order by v.i`;

export async function topicFacts(db: Db, slug: string) {
  const [row] = await db.read<TopicRow>(
    'topic_facts',
    'select slug, kind, channels from topics where slug = $1',
    [slug],
  );
  return row;
}

export function hashSendRecordPhones(trx: Knex.Transaction, contactId: string, phoneHash: string) {
  return trx('send_records').where({ contact_id: contactId }).update({ phone: phoneHash });
}

/** Serialises reservations for one number and topic until the transaction ends. */
export function lockNumberAndTopic(trx: Knex.Transaction, phone: string, topic: string) {
  return trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`send:${phone}:${topic}`]);
}

export function reservationByKey(trx: Knex.Transaction, apiKeyId: string, key: string) {
  return trx('send_records')
    .where({ api_key_id: apiKeyId, reservation_key: key })
    .first('id', 'contact_id', 'released_at');
}

export async function insertSendRecord(trx: Knex.Transaction, row: Record<string, unknown>) {
  const [rec] = await trx('send_records').insert(row).returning('id');
  return rec.id as string;
}

/** Releases a reservation of this API key; false when there is none (or it was released). */
export async function releaseSendRecord(q: Knex, apiKeyId: string | null, id: string) {
  const done = await q('send_records')
    .where({ id, api_key_id: apiKeyId })
    .whereNull('released_at')
    .update({ released_at: new Date() });
  return affectedRows(done) > 0;
}
