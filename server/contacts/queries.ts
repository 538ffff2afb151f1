import type { Knex } from 'knex';
import { type Reader, sql } from '../core.ts';
import { affectedRows } from '../db.ts';
import type { AgreementStatus } from '../domain.ts';
import { canonicalEmail } from './rules.ts';

export interface AccountRow {
  id: string;
  external_id: string;
  name: string | null;
  agreement_status: AgreementStatus;
  agreement_signed_at: Date | null;
  agreement_reference: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ContactRow {
  id: string;
  email: string;
  name: string | null;
  phone: string | null;
  locale: string | null;
  time_zone: string | null;
  region: string | null;
  account_id: string | null;
  optouts: string[];
  /** canonicalEmail(email): the identity (the keyed hash itself once erased) */
  email_key: string;
  email_hash: string;
  suppressed: boolean;
  erased_at: Date | null;
  merged_into: string | null;
  created_at: Date;
  updated_at: Date;
  paused_until?: Date | null;
}

export function accountByExternalId(from: Reader, externalId: string, opts: { forUpdate?: boolean } = {}) {
  const q = sql(from)<AccountRow>('accounts').where({ external_id: externalId });
  return (opts.forUpdate ? q.forUpdate().first() : q.first()) as Promise<AccountRow | undefined>;
}

export function accountById(q: Knex | Knex.Transaction, id: string) {
  return q<AccountRow>('accounts').where({ id }).first() as Promise<AccountRow | undefined>;
}

/** Live (not erased) contact by address, case-insensitively. */
export function contactByEmail(from: Reader, email: string, opts: { forUpdate?: boolean } = {}) {
  const q = sql(from);
  const query = q<ContactRow>('contacts').where('email_key', canonicalEmail(email)).whereNull('erased_at');
  return (opts.forUpdate ? query.forUpdate().first() : query.first()) as Promise<ContactRow | undefined>;
}

export function contactById(
  q: Knex | Knex.Transaction,
  id: string,
  opts: { forUpdate?: boolean; live?: boolean } = {},
) {
  const query = q<ContactRow>('contacts').where({ id });
  if (opts.live) query.whereNull('erased_at');
  return (opts.forUpdate ? query.forUpdate().first() : query.first()) as Promise<ContactRow | undefined>;
}

/** Serialises changes to one contact (its consents, its number) until the transaction ends. */
export function lockContact(trx: Knex.Transaction, id: string) {
  return trx.raw('select id from contacts where id = ? for update', [id]);
}

export function setContactPhone(trx: Knex.Transaction, id: string, phone: string | null) {
  return trx('contacts').where({ id }).update({ phone, updated_at: new Date() });
}

export function contactByPhone(q: Knex | Knex.Transaction, phone: string) {
  return q<ContactRow>('contacts').where({ phone }).first() as Promise<ContactRow | undefined>;
}

export function suppressionByHash(q: Knex | Knex.Transaction, emailHash: string) {
  return q('suppressions').where({ email_hash: emailHash }).first() as Promise<
    { email_hash: string; reason: string; created_at: Date } | undefined
  >;
}

export async function insertSuppression(
  trx: Knex.Transaction,
  row: { email_hash: string; reason: string; actor: string },
) {
  const inserted = await trx('suppressions')
    .insert(row)
    .onConflict('email_hash')
    .ignore()
    .returning('email_hash');
  return inserted.length > 0;
}

/** Erasure's own row: the address becomes its keyed hash, everything personal is cleared. */
export function anonymiseContact(trx: Knex.Transaction, id: string, emailHash: string, now: Date) {
  return trx('contacts').where({ id }).update({
    email: emailHash,
    email_key: emailHash,
    name: null,
    phone: null,
    locale: null,
    time_zone: null,
    region: null,
    erased_at: now,
    updated_at: now,
  });
}

export function deleteSuppression(trx: Knex.Transaction, emailHash: string) {
  return trx('suppressions').where({ email_hash: emailHash }).del();
}

export async function insertAccount(trx: Knex.Transaction, row: Record<string, unknown>) {
  const [account] = await trx<AccountRow>('accounts').insert(row).returning('*');
  return account as AccountRow;
}

export async function updateAccount(trx: Knex.Transaction, id: string, fields: Record<string, unknown>) {
  const [account] = await trx<AccountRow>('accounts')
    .where({ id })
    .update({ ...fields, updated_at: new Date() })
    .returning('*');
  return account as AccountRow;
}

/**
 * A new contact as the database left it: its suppression is set by a statement trigger
 * (contacts_take_suppression_inserted) after the insert, which RETURNING would not show, so the
 * row is read back.
 */
export async function insertContact(trx: Knex.Transaction, row: Record<string, unknown>) {
  const [{ id }] = await trx('contacts').insert(row).returning('id');
  const contact = await trx<ContactRow>('contacts').where({ id }).first();
  return contact as ContactRow;
}

export async function updateContact(trx: Knex.Transaction, id: string, fields: Record<string, unknown>) {
  const [contact] = await trx<ContactRow>('contacts')
    .where({ id })
    .update({ ...fields, updated_at: new Date() })
    .returning('*');
  return contact as ContactRow;
}

export function setPausedUntil(trx: Knex.Transaction, id: string, until: Date | null) {
  return trx('contacts').where({ id }).update({ paused_until: until, updated_at: new Date() });
}

/** Contacts whose pause has ended but is still on record (the sweep writes that it ended). */
export function duePauses(q: Knex, now: Date, limit: number): Promise<{ id: string; paused_until: Date }[]> {
  return q('contacts')
    .where('paused_until', '<=', now)
    .orderBy('paused_until')
    .limit(limit)
    .select('id', 'paused_until');
}

/** Clears a pause only if it is still the one seen (another process may have ended it). */
export async function clearEndedPause(trx: Knex.Transaction, id: string, until: Date) {
  const n = await trx('contacts').where({ id, paused_until: until }).update({ paused_until: null });
  return affectedRows(n) === 1;
}

/** A contact's address and the keys derived from it, together. */
export function setContactEmail(
  trx: Knex.Transaction,
  id: string,
  row: { email: string; email_key: string; email_hash: string },
) {
  return trx('contacts')
    .where({ id })
    .update({ ...row, updated_at: new Date() });
}
