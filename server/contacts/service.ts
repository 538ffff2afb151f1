// Contacts and accounts: create, update (merge: absent stays, null clears), read, erase.
// Every change writes its ledger event in the same transaction.

import type { Knex } from 'knex';
import { type Core, type Reader, sql } from '../core.ts';
import { conflict, DomainError, notFound } from '../errors.ts';
import { keyedHash } from '../keyed-hash.ts';
import type { Origin } from '../ledger/ledger.ts';
import {
  type AccountRow,
  accountByExternalId,
  type ContactRow,
  contactByEmail,
  contactById,
  contactByPhone,
  insertAccount,
  insertContact,
  insertSuppression,
  lockContact,
  setContactEmail,
  updateAccount,
  updateContact,
} from './queries.ts';
import { canonicalEmail } from './rules.ts';

// This file is the part's door: what other parts and the edge may use of its rules and reads
// (reads take the caller's transaction, so a check of a record and a write to it stay atomic).
export { parsePhone } from './phone.ts';
export {
  type AccountRow,
  accountByExternalId,
  accountById,
  type ContactRow,
  clearEndedPause,
  contactByEmail,
  contactById,
  contactByPhone,
  deleteSuppression,
  duePauses,
  lockContact,
  setContactPhone,
  setPausedUntil,
  suppressionByHash,
} from './queries.ts';
export {
  canonicalEmail,
  cleanEmail,
  cleanLocale,
  cleanRegion,
  isTimeZone,
  MAX_NAME,
  maskEmail,
} from './rules.ts';

export type AgreementStatus = AccountRow['agreement_status'];

export interface AccountPatch {
  name?: string | null;
  agreement?: { status: AgreementStatus; signedAt?: Date | null; reference?: string | null };
}

export interface ContactPatch {
  name?: string | null;
  /** E.164, already parsed at the edge */
  phone?: string | null;
  accountExternalId?: string | null;
  locale?: string | null;
  timeZone?: string | null;
  /** ISO 3166-2, e.g. US-FL: picks the state's telephone rules. */
  region?: string | null;
}

export function accountJson(a: AccountRow) {
  return {
    externalId: a.external_id,
    name: a.name,
    agreement: {
      status: a.agreement_status,
      signedAt: a.agreement_signed_at ? a.agreement_signed_at.toISOString() : null,
      reference: a.agreement_reference,
    },
  };
}

function isUniqueViolation(err: unknown, constraint?: string) {
  const e = err as { code?: string; constraint?: string; message?: string };
  return (
    e?.code === '23505' &&
    (!constraint || e.constraint === constraint || (e.message ?? '').includes(constraint))
  );
}

/** Runs fn in a transaction, once more if a concurrent insert of the same key won the race. */
async function withRetryOnRace<T>(knex: Knex, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  try {
    return await knex.transaction(fn);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    return knex.transaction(fn);
  }
}

export async function upsertAccount(core: Core, origin: Origin, externalId: string, patch: AccountPatch) {
  return withRetryOnRace(core.db.knex, async (trx) => {
    const existing = await accountByExternalId(trx, externalId, { forUpdate: true });
    const next = {
      name: patch.name !== undefined ? patch.name : (existing?.name ?? null),
      agreement_status: patch.agreement?.status ?? existing?.agreement_status ?? 'none',
      agreement_signed_at:
        patch.agreement?.signedAt !== undefined
          ? patch.agreement.signedAt
          : (existing?.agreement_signed_at ?? null),
      agreement_reference:
        patch.agreement?.reference !== undefined
          ? patch.agreement.reference
          : (existing?.agreement_reference ?? null),
    };
    if (next.agreement_status === 'signed' && (!next.agreement_signed_at || !next.agreement_reference)) {
      throw new DomainError(
        'validation_failed',
        'A signed agreement needs the date it was signed and its reference.',
        [
          ...(next.agreement_signed_at
            ? []
            : [{ field: 'agreement.signedAt', message: 'required when status is signed' }]),
          ...(next.agreement_reference
            ? []
            : [{ field: 'agreement.reference', message: 'required when status is signed' }]),
        ],
      );
    }
    if (!existing) {
      const account = await insertAccount(trx, { external_id: externalId, ...next });
      await core.ledger.append(trx, origin, { type: 'account.created', accountId: account.id });
      if (account.agreement_status !== 'none') {
        await core.ledger.append(trx, origin, {
          type: 'agreement.changed',
          accountId: account.id,
          oldValue: 'none',
          newValue: account.agreement_status,
          data: { signedAt: account.agreement_signed_at?.toISOString() ?? null },
        });
      }
      return { account, created: true };
    }
    const fields: string[] = [];
    if (next.name !== existing.name) fields.push('name');
    if (next.agreement_reference !== existing.agreement_reference) fields.push('agreement.reference');
    if (next.agreement_signed_at?.getTime() !== existing.agreement_signed_at?.getTime())
      fields.push('agreement.signedAt');
    const statusChanged = next.agreement_status !== existing.agreement_status;
    if (!fields.length && !statusChanged) return { account: existing, created: false };
    const account = await updateAccount(trx, existing.id, next);
    if (fields.length) {
      await core.ledger.append(trx, origin, {
        type: 'account.updated',
        accountId: account.id,
        data: { fields },
      });
    }
    if (statusChanged) {
      await core.ledger.append(trx, origin, {
        type: 'agreement.changed',
        accountId: account.id,
        oldValue: existing.agreement_status,
        newValue: account.agreement_status,
        data: { signedAt: account.agreement_signed_at?.toISOString() ?? null },
      });
    }
    return { account, created: false };
  });
}

export async function upsertContact(
  core: Core,
  origin: Origin,
  email: string,
  patch: ContactPatch,
  /** More to write in the same transaction (another part's change to this contact). */
  also?: (trx: Knex.Transaction, contact: ContactRow) => Promise<unknown>,
) {
  return withRetryOnRace(core.db.knex, async (trx) => {
    const result = await upsertContactIn(core, trx, origin, email, patch);
    if (also) await also(trx, result.contact);
    return result;
  });
}

/** upsertContact inside the caller's transaction (the import writes a row's parts atomically). */
/** A contact's fields after a patch: a field the patch names replaces, one it leaves out is kept. */
export function patchedFields(
  patch: ContactPatch,
  existing: Pick<ContactRow, 'name' | 'phone' | 'locale' | 'time_zone' | 'region'> | undefined,
  accountId: string | null,
) {
  return {
    name: patch.name !== undefined ? patch.name : (existing?.name ?? null),
    phone: patch.phone !== undefined ? patch.phone : (existing?.phone ?? null),
    locale: patch.locale !== undefined ? patch.locale : (existing?.locale ?? null),
    time_zone: patch.timeZone !== undefined ? patch.timeZone : (existing?.time_zone ?? null),
    region: patch.region !== undefined ? patch.region : (existing?.region ?? null),
    account_id: accountId,
  };
}

export async function upsertContactIn(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  email: string,
  patch: ContactPatch,
) {
  const existing = await contactByEmail(trx, email, { forUpdate: true });
  let accountId = existing?.account_id ?? null;
  if (patch.accountExternalId !== undefined) {
    if (patch.accountExternalId === null) accountId = null;
    else {
      const account = await accountByExternalId(trx, patch.accountExternalId);
      if (!account) {
        throw new DomainError(
          'validation_failed',
          `No account with externalId "${patch.accountExternalId}".`,
          [
            {
              field: 'accountExternalId',
              message: 'create it first with PUT /api/v1/accounts/{externalId}',
            },
          ],
        );
      }
      accountId = account.id;
    }
  }
  if (patch.phone) {
    const holder = await contactByPhone(trx, patch.phone);
    if (holder && holder.id !== existing?.id) {
      throw conflict(
        'This phone number already belongs to another contact: a number belongs to one contact only.',
        [{ field: 'phone', message: 'held by another contact' }],
      );
    }
  }
  const next = patchedFields(patch, existing, accountId);
  if (!existing) {
    const contact = await insertContact(trx, {
      email,
      email_key: canonicalEmail(email),
      email_hash: keyedHash(core.config.hashSecret, 'email', email),
      ...next,
    });
    await core.ledger.append(trx, origin, {
      type: 'contact.created',
      contactId: contact.id,
      accountId: contact.account_id,
      data: {
        fields: Object.entries(next)
          .filter(([, v]) => v !== null)
          .map(([k]) => k),
        ...(contact.phone ? { phoneHash: keyedHash(core.config.hashSecret, 'phone', contact.phone) } : {}),
      },
    });
    return { contact, created: true };
  }
  const changed = (Object.keys(next) as (keyof typeof next)[]).filter((k) => next[k] !== existing[k]);
  if (!changed.length) return { contact: existing, created: false };
  const contact = await updateContact(trx, existing.id, next);
  await core.ledger.append(trx, origin, {
    type: 'contact.updated',
    contactId: contact.id,
    accountId: contact.account_id,
    data: {
      fields: changed,
      ...(changed.includes('phone') && contact.phone
        ? { phoneHash: keyedHash(core.config.hashSecret, 'phone', contact.phone) }
        : {}),
    },
  });
  return { contact, created: false };
}

export async function requireContact(from: Reader, email: string): Promise<ContactRow> {
  const q = sql(from);
  const contact = await contactByEmail(q, email);
  if (!contact) throw notFound('No contact with this email address.');
  return contact;
}

/**
 * Keeps an address out of marketing email for good (by its keyed hash) and writes
 * `suppression.added`, inside the caller's transaction. Once: an address already suppressed is
 * left as it is and nothing is written. Returns whether it was added now.
 */
export async function suppressIn(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  s: { email: string; contactId: string | null; reason: string; data?: Record<string, unknown> },
): Promise<boolean> {
  const emailHash = keyedHash(core.config.hashSecret, 'email', s.email);
  if (!(await insertSuppression(trx, { email_hash: emailHash, reason: s.reason, actor: origin.actor })))
    return false;
  await core.ledger.append(trx, origin, {
    type: 'suppression.added',
    contactId: s.contactId,
    channel: 'email',
    newValue: s.reason,
    data: { emailHash, ...s.data },
  });
  return true;
}

/**
 * A contact's new address (the console's edit): the person keeps their preferences, consents
 * and history; the new address takes any suppression already held for it. Refused when another
 * contact has the address. On the ledger as `contact.updated` with both keyed hashes.
 */
export async function changeContactEmail(core: Core, origin: Origin, contactId: string, email: string) {
  return core.db.knex.transaction(async (trx) => {
    await lockContact(trx, contactId);
    const contact = await contactById(trx, contactId, { live: true });
    if (!contact) throw notFound('No such contact.');
    if (email === contact.email) return false;
    const other = await contactByEmail(trx, email);
    if (other && other.id !== contactId)
      throw conflict('This address belongs to another contact: open that one instead.');
    const hash = keyedHash(core.config.hashSecret, 'email', email);
    await setContactEmail(trx, contactId, { email, email_key: canonicalEmail(email), email_hash: hash });
    await core.ledger.append(trx, origin, {
      type: 'contact.updated',
      contactId,
      accountId: contact.account_id,
      data: { fields: ['email'], emailHashBefore: contact.email_hash, emailHash: hash },
    });
    return true;
  });
}
