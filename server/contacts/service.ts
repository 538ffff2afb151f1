// Contacts and accounts: create, update (merge: absent stays, null clears), read, erase.
// Every change writes its ledger event in the same transaction.

import type { Knex } from 'knex';
import { revokeAllConsents } from '../consent/service.ts';
import type { Core } from '../core.ts';
import { CHANNELS, type Channel } from '../domain.ts';
import { conflict, DomainError, notFound } from '../errors.ts';
import { keyedHash } from '../keyed-hash.ts';
import type { Origin } from '../ledger/ledger.ts';
import {
  applyPreferenceChanges,
  type PreferenceChange,
  preferenceRows,
  preferencesView,
} from '../preferences/service.ts';
import { listTopics } from '../preferences/topics.ts';
import { preferencesUrl } from '../tokens/tokens.ts';
import {
  type AccountRow,
  accountByExternalId,
  accountById,
  type ContactRow,
  contactByEmail,
  contactByPhone,
  insertSuppression,
  suppressionByHash,
} from './queries.ts';
import { canonicalEmail } from './rules.ts';

// What other parts and the edge may use of this part's pure rules: this file is the part's door.
export { parsePhone } from './phone.ts';
export { cleanEmail, cleanLocale, cleanRegion, isTimeZone, MAX_NAME } from './rules.ts';

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
    const existing = await trx<AccountRow>('accounts').where({ external_id: externalId }).forUpdate().first();
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
      const [account] = await trx<AccountRow>('accounts')
        .insert({ external_id: externalId, ...next })
        .returning('*');
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
    const [account] = await trx<AccountRow>('accounts')
      .where({ id: existing.id })
      .update({ ...next, updated_at: new Date() })
      .returning('*');
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

export async function upsertContact(core: Core, origin: Origin, email: string, patch: ContactPatch) {
  return withRetryOnRace(core.db.knex, (trx) => upsertContactIn(core, trx, origin, email, patch));
}

/** upsertContact, answering with the contact as the API shows it. */
export async function saveContact(core: Core, origin: Origin, email: string, patch: ContactPatch) {
  const { contact, created } = await upsertContact(core, origin, email, patch);
  return { view: await contactView(core, contact), created };
}

/** One contact as GET /api/v1/contacts/{email} shows it; not_found when there is none. */
export async function getContact(core: Core, email: string) {
  return contactView(core, await requireContact(core.db.knex, email));
}

/** upsertContact inside the caller's transaction (the import writes a row's parts atomically). */
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
  const next = {
    name: patch.name !== undefined ? patch.name : (existing?.name ?? null),
    phone: patch.phone !== undefined ? patch.phone : (existing?.phone ?? null),
    locale: patch.locale !== undefined ? patch.locale : (existing?.locale ?? null),
    time_zone: patch.timeZone !== undefined ? patch.timeZone : (existing?.time_zone ?? null),
    region: patch.region !== undefined ? patch.region : (existing?.region ?? null),
    account_id: accountId,
  };
  if (!existing) {
    const [contact] = await trx<ContactRow>('contacts')
      .insert({
        email,
        email_key: canonicalEmail(email),
        email_hash: keyedHash(core.config.hashSecret, 'email', email),
        ...next,
      })
      .returning('*');
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
  const [contact] = await trx<ContactRow>('contacts')
    .where({ id: existing.id })
    .update({ ...next, updated_at: new Date() })
    .returning('*');
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

export async function requireContact(q: Knex | Knex.Transaction, email: string): Promise<ContactRow> {
  const contact = await contactByEmail(q, email);
  if (!contact) throw notFound('No contact with this email address.');
  return contact;
}

/** The full picture of one contact, as GET /api/v1/contacts/{email} returns it. */
export async function contactView(core: Core, contact: ContactRow) {
  const knex = core.db.knex;
  const [account, topics, prefs, consents, suppression] = await Promise.all([
    contact.account_id ? accountById(knex, contact.account_id) : undefined,
    listTopics(knex),
    preferenceRows(knex, contact.id),
    currentConsents(knex, contact.id),
    suppressionByHash(knex, keyedHash(core.config.hashSecret, 'email', contact.email)),
  ]);
  return {
    email: contact.email,
    name: contact.name,
    phone: contact.phone,
    locale: contact.locale,
    timeZone: contact.time_zone,
    region: contact.region ?? null,
    account: account ? accountJson(account) : null,
    preferences: preferencesView(topics, prefs),
    consents,
    suppression: suppression
      ? { reason: suppression.reason, since: suppression.created_at.toISOString() }
      : null,
    preferencesUrl: preferencesUrl(core.config.baseUrl, core.config.tokenKeys, contact.id),
  };
}

/** Newest consent record per number and channel. */
async function currentConsents(knex: Knex, contactId: string) {
  const rows = await knex('consents as c')
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
  return rows.map((r) => ({
    phone: r.phone,
    channel: r.channel,
    status: r.status,
    method: r.method,
    disclosureVersion: r.disclosure_version ?? null,
    capturedAt: r.captured_at.toISOString(),
    revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null,
  }));
}

/**
 * Erasure: the contact row is anonymised in place (email → its keyed hash; name, phone, locale,
 * time zone cleared), a keyed-hash suppression keeps the address out of marketing for good,
 * live phone consents are revoked (the evidence rows stay), and stored messages lose their
 * address and content. The ledger is untouched: it never held personal data.
 */
export async function eraseContact(core: Core, origin: Origin, email: string) {
  return core.db.knex.transaction(async (trx) => {
    const contact = await contactByEmail(trx, email, { forUpdate: true });
    if (!contact) throw notFound('No contact with this email address.');
    const emailHash = keyedHash(core.config.hashSecret, 'email', contact.email);
    const now = new Date();
    // Consents first, through their part: each revocation is on the ledger, the evidence stays.
    await revokeAllConsents(core, trx, origin, contact.id, 'erasure');
    await trx('contacts').where({ id: contact.id }).update({
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
    // One-time codes go; send records keep counting (limits) under the number's keyed hash.
    await trx('phone_confirmations').where({ contact_id: contact.id }).del();
    if (contact.phone) {
      await trx('send_records')
        .where({ contact_id: contact.id })
        .update({ phone: keyedHash(core.config.hashSecret, 'phone', contact.phone) });
    }
    await trx('text_messages')
      .where({ contact_id: contact.id })
      .update({
        to_phone: keyedHash(core.config.hashSecret, 'phone', contact.phone ?? ''),
        body: '[erased]',
      });
    await trx('messages')
      .where({ contact_id: contact.id })
      .update({ to_email: emailHash, subject: '[erased]', html: null, text: null, headers: '{}' });
    if (await insertSuppression(trx, { email_hash: emailHash, reason: 'erasure', actor: origin.actor })) {
      await core.ledger.append(trx, origin, {
        type: 'suppression.added',
        contactId: contact.id,
        channel: 'email',
        newValue: 'erasure',
        data: { emailHash },
      });
    }
    await core.ledger.append(trx, origin, {
      type: 'contact.erased',
      contactId: contact.id,
      data: { emailHash },
    });
    return { contactId: contact.id };
  });
}

/**
 * API unsubscribe. No topic: all marketing; no channel: every channel (the safe reading of
 * "stop sending this person marketing"). Returns the changes that took effect.
 */
export async function unsubscribeContact(
  core: Core,
  origin: Origin,
  email: string,
  input: { topic?: string; channel?: Channel },
) {
  return core.db.knex
    .transaction(async (trx) => {
      const contact = await contactByEmail(trx, email);
      if (!contact) throw notFound('No contact with this email address.');
      const topics = await listTopics(trx);
      const topic = input.topic ? topics.find((t) => t.slug === input.topic) : undefined;
      const channels: Channel[] = input.channel ? [input.channel] : topic ? topic.channels : [...CHANNELS];
      const changes: PreferenceChange[] = channels.map((channel) => ({
        channel,
        topic: input.topic ?? null,
        status: 'unsubscribed',
      }));
      return { contact, changes: await applyPreferenceChanges(core, trx, origin, contact.id, changes) };
    })
    .then(async ({ contact, changes }) => ({ changes, view: await contactView(core, contact) }));
}
