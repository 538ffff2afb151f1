// Consent to be called or texted (TCPA, 47 CFR 64.1200). Only contacts of accounts with a
// signed agreement may give it; it belongs to one number and one channel; each grant is a row
// with its evidence (the exact disclosure version and text hash, method, who captured it,
// when, and for the web the IP and user agent); revocation is written on that row and on the
// ledger, and takes effect for the very next check. Rows are never deleted.

import type { Knex } from 'knex';
import { currentBrand } from '../brand/service.ts';
import {
  accountById,
  type ContactRow,
  contactById,
  contactByPhone,
  lockContact,
  requireContact,
  setContactPhone,
} from '../contacts/service.ts';
import { type Core, type Reader, sql } from '../core.ts';
import { PHONE_CHANNELS, type PhoneChannel } from '../domain.ts';
import { conflict, DomainError } from '../errors.ts';
import { type Jobs, QUEUES } from '../jobs/jobs.ts';
import { keyedHash } from '../keyed-hash.ts';
import type { Origin } from '../ledger/ledger.ts';
import { DISCLOSURE_LOCALES, disclosureText } from './disclosures.ts';
import {
  claimMessage,
  disclosureByVersion,
  eraseCopies,
  grantedFor,
  historyRows,
  insertConsent,
  insertDisclosure,
  latestConsent,
  lockDisclosures,
  markRevoked,
  newestDisclosure,
  newestDisclosureExact,
  newestPerChannel,
  newestPerNumberAndChannel,
  phoneOfConsent,
} from './queries.ts';

export const CONSENT_METHODS = ['web_form', 'written_agreement', 'verbal', 'sms_keyword', 'api'] as const;
export type ConsentMethod = (typeof CONSENT_METHODS)[number];
export const STAFF_METHODS: ConsentMethod[] = ['verbal', 'written_agreement'];

export interface Disclosure {
  id: number;
  channel: PhoneChannel;
  locale: string;
  version: number;
  text: string;
  text_hash: string;
}

export interface GrantInput {
  phone: string; // E.164, parsed at the edge
  channels: PhoneChannel[];
  method: ConsentMethod;
  /** Per channel, the version of the disclosure that was shown; absent: the current one. */
  disclosureVersions?: Partial<Record<PhoneChannel, number>>;
  locale?: string | null;
  capturedAt?: Date;
  ip?: string | null;
  userAgent?: string | null;
  note?: string | null;
}

/** The newest disclosure for a channel in a locale (falling back to English). */
export async function currentDisclosure(
  from: Reader,
  channel: PhoneChannel,
  locale?: string | null,
): Promise<Disclosure> {
  return (await newestDisclosure(sql(from), channel, locale?.split('-')[0] ?? 'en')) as Disclosure;
}

export async function disclosureVersion(
  q: Knex | Knex.Transaction,
  channel: PhoneChannel,
  version: number,
  locale?: string | null,
): Promise<Disclosure | undefined> {
  return disclosureByVersion(q, channel, version, locale?.split('-')[0] ?? 'en');
}

async function accountAgreement(trx: Knex.Transaction, contact: ContactRow) {
  if (!contact.account_id) return null;
  return (await accountById(trx, contact.account_id))?.agreement_status ?? null;
}

/**
 * Records consent for one number on one or more channels, with its evidence. The contact must
 * belong to a signed account (409 otherwise, nothing recorded) and the number must not be held
 * by another contact (409). The contact takes the number if it held another or none: consent
 * is for the number, and the check finds a number's contact through it.
 */
export async function grantConsent(
  core: Core,
  origin: Origin,
  contactId: string,
  input: GrantInput,
  opts: { jobs?: Jobs; reassign?: boolean } = {},
) {
  await opts.jobs?.ready();
  return core.db.knex.transaction(async (trx) => {
    const contact = await contactById(trx, contactId, { forUpdate: true, live: true });
    if (!contact) throw new DomainError('not_found', 'No contact with this email address.');
    const agreement = await accountAgreement(trx, contact);
    if (agreement !== 'signed') {
      throw conflict(
        agreement === 'terminated'
          ? "This contact's account agreement is terminated: calls and texts need a signed agreement, so no consent was recorded."
          : "This contact's account has no signed agreement: only signed customers may be called or texted, so no consent was recorded.",
        [{ field: 'accountExternalId', message: 'the account agreement must be signed' }],
      );
    }
    const holder = await contactByPhone(trx, input.phone);
    const phoneHash = keyedHash(core.config.hashSecret, 'phone', input.phone);
    if (holder && holder.id !== contact.id) {
      if (!opts.reassign) {
        throw conflict(
          'This phone number belongs to another contact: a number belongs to one contact only.',
          [{ field: 'phone', message: 'held by another contact' }],
        );
      }
      // The person proved they hold the number (a code texted to it): it moves to them, and
      // what the previous holder consented to for it ends, on the ledger.
      await lockContact(trx, holder.id);
      const held = await grantedFor(trx, { contact_id: holder.id, phone: input.phone }, 'channel');
      for (const row of held) await revokeRow(core, trx, origin, row, 'number_reassigned');
      await setContactPhone(trx, holder.id, null);
      await core.ledger.append(trx, origin, {
        type: 'contact.updated',
        contactId: holder.id,
        accountId: holder.account_id,
        data: { fields: ['phone'], reason: 'number_reassigned', phoneHash },
      });
    }
    if (contact.phone !== input.phone) {
      await setContactPhone(trx, contact.id, input.phone);
      await core.ledger.append(trx, origin, {
        type: 'contact.updated',
        contactId: contact.id,
        accountId: contact.account_id,
        data: { fields: ['phone'], phoneHash },
      });
    }
    const granted: { channel: PhoneChannel; id: string; disclosureVersion: number }[] = [];
    for (const channel of input.channels) {
      const wanted = input.disclosureVersions?.[channel];
      const disclosure =
        wanted === undefined
          ? await currentDisclosure(trx, channel, input.locale)
          : await disclosureVersion(trx, channel, wanted, input.locale);
      if (!disclosure) {
        throw new DomainError(
          'validation_failed',
          `There is no version ${wanted} of the ${channel} disclosure.`,
          [{ field: 'disclosureVersion', message: `unknown ${channel} disclosure version` }],
        );
      }
      const current = await latestConsent(trx, contact.id, input.phone, channel);
      if (current?.status === 'granted') continue;
      const row = await insertConsent(trx, {
        contact_id: contact.id,
        phone: input.phone,
        channel,
        status: 'granted',
        method: input.method,
        disclosure_id: disclosure.id,
        disclosure_hash: disclosure.text_hash,
        captured_by: origin.actor,
        captured_at: input.capturedAt ?? new Date(),
        ip: input.ip ?? null,
        user_agent: input.userAgent?.slice(0, 1000) ?? null,
        note: input.note ?? null,
      });
      await core.ledger.append(trx, origin, {
        type: 'consent.granted',
        contactId: contact.id,
        accountId: contact.account_id,
        channel,
        oldValue: current?.status ?? null,
        newValue: 'granted',
        data: { phoneHash, method: input.method, disclosureVersion: disclosure.version, consentId: row.id },
      });
      granted.push({ channel, id: row.id, disclosureVersion: disclosure.version });
    }
    // A consent to texts given on the web or through the API gets one confirmation text (CTIA),
    // queued in this transaction: it exists exactly when the consent does.
    const sms = granted.find((g) => g.channel === 'sms');
    if (opts.jobs && sms && (input.method === 'web_form' || input.method === 'api')) {
      await opts.jobs.send(QUEUES.smsConfirmation, { consentId: sms.id }, { trx });
    }
    return granted;
  });
}

async function revokeRow(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  row: { id: string; contact_id: string; phone: string; channel: PhoneChannel },
  method: string,
  extra: Record<string, string> = {},
) {
  await markRevoked(trx, row.id, origin.actor, method);
  await core.ledger.append(trx, origin, {
    type: 'consent.revoked',
    contactId: row.contact_id,
    channel: row.channel,
    oldValue: 'granted',
    newValue: 'revoked',
    data: {
      phoneHash: keyedHash(core.config.hashSecret, 'phone', row.phone),
      method,
      consentId: row.id,
      ...extra,
    },
  });
}

/**
 * Revokes every consent the contact still has, inside the caller's transaction, each on the
 * ledger (erasure, a terminated agreement). Returns how many were revoked.
 */
export async function revokeAllConsents(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  contactId: string,
  method: string,
) {
  const rows = await grantedFor(trx, { contact_id: contactId }, 'phone');
  for (const row of rows) await revokeRow(core, trx, origin, row, method);
  return rows.length;
}

/** Revokes a contact's consent for a number on the given channels; returns the channels that changed. */
export async function revokeConsent(
  core: Core,
  origin: Origin,
  contactId: string,
  phone: string,
  channels: PhoneChannel[],
  method: string,
  /** Why (staff give a reason; it is kept on the ledger event). */
  note?: string,
) {
  return core.db.knex.transaction(async (trx) => {
    await lockContact(trx, contactId);
    const changed: PhoneChannel[] = [];
    for (const channel of channels) {
      const row = await latestConsent(trx, contactId, phone, channel);
      if (row?.status !== 'granted') continue;
      await revokeRow(core, trx, origin, row, method, note ? { note } : {});
      changed.push(channel);
    }
    return changed;
  });
}

/** Every granted consent for this number on this channel, revoked at once, whoever gave it. */
async function revokeNumber(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  phone: string,
  channel: PhoneChannel,
  scope: RevocationScope,
) {
  const rows = await grantedFor(trx, { phone, channel }, 'contact_id');
  for (const row of rows) await revokeRow(core, trx, origin, row, 'sms_keyword', { scope });
  return rows.length;
}

/**
 * START/UNSTOP: restores consent that a keyword revoked, for the contact who holds the number
 * now, with the disclosure of the grant it restores. A consent revoked another way (web, staff,
 * erasure, a terminated agreement) is not brought back by a text.
 */
async function restoreNumber(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  phone: string,
  channel: PhoneChannel,
) {
  const holder = await contactByPhone(trx, phone);
  if (!holder || holder.erased_at) return false;
  await lockContact(trx, holder.id);
  const row = await latestConsent(trx, holder.id, phone, channel);
  if (row?.status !== 'revoked' || row.revoked_method !== 'sms_keyword') return false;
  if ((await accountAgreement(trx, holder)) !== 'signed') return false;
  const restored = await insertConsent(trx, {
    contact_id: holder.id,
    phone,
    channel,
    status: 'granted',
    method: 'sms_keyword',
    disclosure_id: row.disclosure_id,
    disclosure_hash: row.disclosure_hash,
    captured_by: origin.actor,
    captured_at: new Date(),
    note: 'restored by START/UNSTOP',
  });
  await core.ledger.append(trx, origin, {
    type: 'consent.granted',
    contactId: holder.id,
    channel,
    oldValue: 'revoked',
    newValue: 'granted',
    data: {
      phoneHash: keyedHash(core.config.hashSecret, 'phone', phone),
      method: 'sms_keyword',
      consentId: restored.id,
      restores: row.id,
    },
  });
  return true;
}

/** `number`: a STOP ends texts and calls to the number (FCC revoke-all); `channel`: texts only. */
export type RevocationScope = 'number' | 'channel';

export interface InboundText {
  /** The provider's message id (Twilio's MessageSid); null when it sent none. */
  sid: string | null;
  from: string; // E.164
  intent: 'stop' | 'stop_all' | 'start' | 'help';
  scope: RevocationScope;
}

export type InboundResult =
  | { duplicate: true }
  | { duplicate: false; revoked: number; channels: PhoneChannel[]; restored: boolean };

/**
 * Applies an inbound text in ONE transaction with the claim of its message id: a provider retry
 * after a failure (the transaction rolled back, the claim with it) is applied; a retry after
 * success is recognised and changes nothing.
 */
export function applyInboundText(core: Core, origin: Origin, text: InboundText): Promise<InboundResult> {
  return core.db.knex.transaction(async (trx) => {
    if (text.sid) {
      if (!(await claimMessage(trx, text.sid))) return { duplicate: true };
    }
    if (text.intent === 'stop' || text.intent === 'stop_all') {
      const scope: RevocationScope = text.intent === 'stop_all' ? 'number' : text.scope;
      const channels: PhoneChannel[] = scope === 'number' ? ['sms', 'voice'] : ['sms'];
      let revoked = 0;
      for (const channel of channels)
        revoked += await revokeNumber(core, trx, origin, text.from, channel, scope);
      return { duplicate: false, revoked, channels, restored: false };
    }
    if (text.intent === 'start') {
      const restored = await restoreNumber(core, trx, origin, text.from, 'sms');
      return { duplicate: false, revoked: 0, channels: [], restored };
    }
    return { duplicate: false, revoked: 0, channels: [], restored: false };
  });
}

/** Every consent record of a contact, oldest first, with the disclosure text: the evidence a regulator asks for. */
export async function consentHistory(from: Reader, contactId: string) {
  return (await historyRows(sql(from), contactId)).map((r) => ({
    id: r.id as string,
    phone: r.phone as string,
    channel: r.channel as PhoneChannel,
    status: r.status as string,
    method: r.method as string,
    disclosure: r.disclosure_version
      ? {
          version: r.disclosure_version,
          locale: r.disclosure_locale,
          text: r.disclosure_text,
          textHash: r.disclosure_hash,
        }
      : null,
    capturedBy: r.captured_by as string,
    capturedAt: (r.captured_at as Date).toISOString(),
    ip: r.ip as string | null,
    userAgent: r.user_agent as string | null,
    note: r.note as string | null,
    revokedAt: r.revoked_at ? (r.revoked_at as Date).toISOString() : null,
    revokedBy: r.revoked_by as string | null,
    revokedMethod: r.revoked_method as string | null,
  }));
}

/** Current state per channel of the contact's own number (for the preference page). */
export async function phoneConsentState(from: Reader, contactId: string, phone: string | null) {
  const state: Record<PhoneChannel, { status: 'granted' | 'revoked' | null; since: Date | null }> = {
    sms: { status: null, since: null },
    voice: { status: null, since: null },
  };
  if (!phone) return state;
  for (const r of await newestPerChannel(sql(from), contactId, phone)) {
    state[r.channel as PhoneChannel] = {
      status: r.status,
      since: r.status === 'granted' ? r.captured_at : r.revoked_at,
    };
  }
  return state;
}

/** The number a consent record is for (first-party webhook payloads), or null. */
export async function consentPhone(from: Reader, consentId: unknown): Promise<string | null> {
  if (typeof consentId !== 'string') return null;
  return phoneOfConsent(sql(from), consentId);
}

/** Newest consent record per number and channel. */
export async function currentConsents(from: Reader, contactId: string) {
  return (await newestPerNumberAndChannel(sql(from), contactId)).map((r) => ({
    phone: r.phone,
    channel: r.channel,
    status: r.status,
    method: r.method,
    disclosureVersion: r.disclosure_version ?? null,
    capturedAt: r.captured_at.toISOString(),
    revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null,
  }));
}

/** Erasure, in the caller's transaction: one-time codes go, sent texts lose number and body. */
export async function eraseConsentCopiesIn(
  core: Core,
  trx: Knex.Transaction,
  contactId: string,
  phone: string | null,
) {
  await eraseCopies(trx, contactId, keyedHash(core.config.hashSecret, 'phone', phone ?? ''));
}

// ---- the API's consent calls, by the contact's address --------------------------------------

/** Records consent for the contact with this address; answers with the whole evidence history. */
export async function grantConsentByEmail(
  core: Core,
  origin: Origin,
  email: string,
  input: Omit<GrantInput, 'locale'>,
  opts: { jobs?: Jobs } = {},
) {
  const contact = await requireContact(core, email);
  const granted = await grantConsent(core, origin, contact.id, { ...input, locale: contact.locale }, opts);
  return { granted, consents: await consentHistory(core, contact.id) };
}

export async function revokeConsentByEmail(
  core: Core,
  origin: Origin,
  email: string,
  phone: string,
  channels: PhoneChannel[],
) {
  const contact = await requireContact(core, email);
  const revoked = await revokeConsent(core, origin, contact.id, phone, channels, 'api');
  return { revoked, consents: await consentHistory(core, contact.id) };
}

export async function consentsByEmail(core: Core, email: string) {
  return consentHistory(core, (await requireContact(core, email)).id);
}

/**
 * Publishes the disclosures for this brand name: a new version per channel and language whose
 * newest text differs (the first start names the brand; a renamed brand is a new version).
 * Returns how many versions were published. Older versions stay: they are evidence.
 */
export async function syncDisclosures(core: Core, brandName: string) {
  let published = 0;
  await core.db.knex.transaction(async (trx) => {
    await lockDisclosures(trx);
    for (const locale of DISCLOSURE_LOCALES) {
      for (const channel of PHONE_CHANNELS) {
        const text = disclosureText(brandName, channel, locale);
        const newest = await newestDisclosureExact(trx, channel, locale);
        if (newest?.text === text) continue;
        await insertDisclosure(trx, channel, locale, (newest?.version ?? 0) + 1, text);
        published++;
      }
    }
  });
  return published;
}

// ---- consent receipts (Kantara Initiative Consent Receipt Specification v1.1) --------------

/**
 * A consent record as a Kantara v1.1 consent receipt: who holds the data (the brand), whose it is,
 * what was agreed to and how, in which language, until when. Our own evidence rides along under
 * `evidence` (disclosure version and text hash, status, revocation).
 */
export async function consentReceipt(core: Core, email: string, consentId: string) {
  const contact = await requireContact(core, email);
  const record = (await consentHistory(core, contact.id)).find((c) => c.id === consentId);
  if (!record) throw new DomainError('not_found', 'No consent with this id for this contact.');
  const brand = await currentBrand(core);
  const channelName = record.channel === 'sms' ? 'Text messages' : 'Phone calls';
  return {
    version: 'KI-CR-v1.1.0',
    jurisdiction: 'US',
    consentTimestamp: Math.floor(new Date(record.capturedAt).getTime() / 1000),
    collectionMethod: RECEIPT_METHODS[record.method] ?? record.method,
    consentReceiptID: record.id,
    language: record.disclosure?.locale ?? 'en',
    piiPrincipalId: contact.email,
    piiControllers: [
      {
        piiController: brand.name,
        onBehalf: false,
        contact: brand.supportContact,
        address: brand.postalAddress ?? '',
        email: brand.supportContact.includes('@') ? brand.supportContact : '',
        phone: '',
        piiControllerUrl: brand.privacyUrl ?? core.config.baseUrl,
      },
    ],
    policyUrl: brand.privacyUrl ?? `${core.config.baseUrl}/`,
    services: [
      {
        service: `${channelName} to ${record.phone}`,
        purposes: [
          {
            purpose: record.disclosure?.text ?? `${channelName} about your account and our offers`,
            purposeCategory: ['Marketing', 'Service notices'],
            consentType: 'EXPLICIT',
            piiCategory: ['Phone number'],
            primaryPurpose: true,
            termination:
              record.channel === 'sms'
                ? 'Until revoked: reply STOP to any text, use your preferences page, or ask support.'
                : 'Until revoked: say so on a call, use your preferences page, or ask support.',
            thirdPartyDisclosure: false,
          },
        ],
      },
    ],
    sensitive: false,
    spiCat: [],
    evidence: {
      status: record.status,
      method: record.method,
      disclosureVersion: record.disclosure?.version ?? null,
      disclosureTextHash: record.disclosure?.textHash ?? null,
      capturedBy: record.capturedBy,
      ip: record.ip,
      userAgent: record.userAgent,
      revokedAt: record.revokedAt,
      revokedMethod: record.revokedMethod,
    },
  };
}

const RECEIPT_METHODS: Record<string, string> = {
  web_form: 'Web form with a checkbox and the disclosure text',
  written_agreement: 'Written agreement',
  verbal: 'Verbal, recorded by staff',
  sms_keyword: 'Text message keyword',
  api: 'Recorded by the company through the API',
};
