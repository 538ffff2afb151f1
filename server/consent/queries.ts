// The consent part's SQL: consents (rows are never deleted; revocation is written on the row),
// disclosures, one-time codes and the texts the center sent.
import type { Knex } from 'knex';
import { affectedRows } from '../db.ts';
import type { PhoneChannel } from '../domain.ts';

type Q = Knex | Knex.Transaction;

export interface ConsentRow {
  id: string;
  contact_id: string;
  phone: string;
  channel: PhoneChannel;
  status: 'granted' | 'revoked';
  method: string;
  disclosure_id: string | null;
  disclosure_hash: string | null;
  revoked_method: string | null;
  captured_at: Date;
  revoked_at: Date | null;
}

/** The newest disclosure of a channel in a language, falling back to English. */
export function newestDisclosure(q: Q, channel: PhoneChannel, lang: string) {
  return q('disclosures')
    .where({ channel })
    .whereIn('locale', [lang, 'en'])
    .orderByRaw('(locale = ?) desc, version desc', [lang])
    .first();
}

export function disclosureByVersion(q: Q, channel: PhoneChannel, version: number, lang: string) {
  return q('disclosures')
    .where({ channel, version })
    .whereIn('locale', [lang, 'en'])
    .orderByRaw('(locale = ?) desc', [lang])
    .first();
}

/** Newest consent row for this contact, number and channel (its current state). */
export function latestConsent(
  trx: Knex.Transaction,
  contactId: string,
  phone: string,
  channel: PhoneChannel,
): Promise<ConsentRow | undefined> {
  return trx('consents')
    .where({ contact_id: contactId, phone, channel })
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .first();
}

/** Granted rows matching `where`, locked, in a stable order (so two revokers never deadlock). */
export function grantedFor(
  trx: Knex.Transaction,
  where: Partial<Pick<ConsentRow, 'contact_id' | 'phone' | 'channel'>>,
  order: 'channel' | 'phone' | 'contact_id',
): Promise<ConsentRow[]> {
  const q = trx('consents')
    .where({ ...where, status: 'granted' })
    .orderBy(order);
  if (order === 'phone') q.orderBy('channel');
  return q.forUpdate();
}

export async function insertConsent(trx: Knex.Transaction, row: Record<string, unknown>) {
  const [inserted] = await trx('consents').insert(row).returning('id');
  return inserted as { id: string };
}

export function markRevoked(trx: Knex.Transaction, id: string, actor: string, method: string) {
  return trx('consents')
    .where({ id })
    .update({ status: 'revoked', revoked_at: new Date(), revoked_by: actor, revoked_method: method });
}

/** Claims an inbound text's MessageSid; false when it was applied before. */
export async function claimMessage(trx: Knex.Transaction, sid: string) {
  const fresh = await trx('webhook_events')
    .insert({ provider: 'sms', event_id: sid })
    .onConflict(['provider', 'event_id'])
    .ignore()
    .returning('event_id');
  return fresh.length > 0;
}

export function historyRows(q: Q, contactId: string) {
  return q('consents as c')
    .leftJoin('disclosures as d', 'd.id', 'c.disclosure_id')
    .where('c.contact_id', contactId)
    .orderBy([{ column: 'c.created_at' }, { column: 'c.id' }])
    .select(
      'c.*',
      'd.version as disclosure_version',
      'd.locale as disclosure_locale',
      'd.text as disclosure_text',
    );
}

export function newestPerChannel(q: Q, contactId: string, phone: string) {
  return q('consents')
    .where({ contact_id: contactId, phone })
    .distinctOn('channel')
    .orderBy([{ column: 'channel' }, { column: 'created_at', order: 'desc' }]);
}

export function newestPerNumberAndChannel(q: Q, contactId: string) {
  return q('consents as c')
    .leftJoin('disclosures as d', 'd.id', 'c.disclosure_id')
    .where('c.contact_id', contactId)
    .distinctOn('c.phone', 'c.channel')
    .orderBy([{ column: 'c.phone' }, { column: 'c.channel' }, { column: 'c.created_at', order: 'desc' }])
    .select(
      'c.phone',
      'c.channel',
      'c.status',
      'c.method',
      'd.version as disclosure_version',
      'c.captured_at',
      'c.revoked_at',
    );
}

export async function phoneOfConsent(q: Q, consentId: string): Promise<string | null> {
  const row = await q('consents').where({ id: consentId }).first('phone');
  return (row?.phone as string | undefined) ?? null;
}

/** Erasure: one-time codes go; sent texts keep only the number's keyed hash. */
export async function eraseCopies(trx: Knex.Transaction, contactId: string, phoneHash: string) {
  await trx('phone_confirmations').where({ contact_id: contactId }).del();
  await trx('text_messages')
    .where({ contact_id: contactId })
    .update({ to_phone: phoneHash, body: '[erased]' });
}

export function consentById(q: Q, id: string) {
  return q('consents').where({ id }).first('contact_id', 'phone', 'status', 'channel');
}

/** One text the center sent (or kept in the local outbox). */
export function insertText(q: Q, row: Record<string, unknown>) {
  return q('text_messages').insert(row);
}

/** Twilio said the number opted out at the carrier (21610): never text it again. */
export async function carrierOptedOut(q: Q, phone: string) {
  const row = await q('text_messages')
    .where({ to_phone: phone, status: 'failed' })
    .where('provider_error', 'like', '21610%')
    .first('id');
  return Boolean(row);
}

// ---- one-time codes that prove a number (phone_confirmations) ----------------------------

export async function confirmationsSince(q: Q, where: Record<string, string>, since: Date) {
  const [row] = await q('phone_confirmations').where(where).where('created_at', '>', since).count({ n: '*' });
  return Number(row.n);
}

export async function insertConfirmation(q: Q, row: Record<string, unknown>) {
  const [inserted] = await q('phone_confirmations').insert(row).returning('id');
  return inserted as { id: string };
}

export function setCodeHash(q: Q, id: string, codeHash: string) {
  return q('phone_confirmations').where({ id }).update({ code_hash: codeHash });
}

export function confirmationOf(q: Q, contactId: string, id: string) {
  return q('phone_confirmations').where({ id, contact_id: contactId }).first();
}

export function countAttempt(q: Q, id: string) {
  return q('phone_confirmations').where({ id }).increment('attempts', 1);
}

/** Marks a code used; false when another request used it first. */
export async function claimConfirmation(q: Q, id: string, now: Date) {
  const claimed = await q('phone_confirmations')
    .where({ id })
    .whereNull('confirmed_at')
    .update({ confirmed_at: now });
  return affectedRows(claimed) === 1;
}

export function openConfirmation(q: Q, contactId: string, id: string) {
  return q('phone_confirmations')
    .where({ id, contact_id: contactId })
    .whereNull('confirmed_at')
    .first('phone', 'expires_at');
}

/** The newest disclosure of a channel in exactly this language (no fallback), or undefined. */
export function newestDisclosureExact(q: Q, channel: PhoneChannel, locale: string) {
  return q('disclosures').where({ channel, locale }).orderBy('version', 'desc').first('version', 'text');
}

/** Publishes a disclosure version; its hash is computed by the database over the exact text. */
export function insertDisclosure(
  trx: Knex.Transaction,
  channel: PhoneChannel,
  locale: string,
  version: number,
  text: string,
) {
  return trx.raw(
    `insert into disclosures (channel, locale, version, text, text_hash)
     values (?, ?, ?, ?, encode(sha256(convert_to(?, 'UTF8')), 'hex'))
     on conflict (channel, locale, version) do nothing`,
    [channel, locale, version, text, text],
  );
}

/** One publisher at a time (two processes starting together publish each version once). */
export function lockDisclosures(trx: Knex.Transaction) {
  return trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['disclosures']);
}
