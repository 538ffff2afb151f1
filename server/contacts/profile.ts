import {
  consentHistory,
  consentReceipt,
  currentConsents,
  eraseConsentCopiesIn,
  revokeAllConsents,
} from '../consent/service.ts';
import type { Core } from '../core.ts';
import { CHANNELS, type Channel } from '../domain.ts';
import { notFound } from '../errors.ts';
import { keyedHash } from '../keyed-hash.ts';
import { eventJson, eventsOfContact } from '../ledger/export.ts';
import type { Origin } from '../ledger/ledger.ts';
import { eraseMessagesIn } from '../mail/service.ts';
import { eraseSendRecordsIn } from '../permission/service.ts';
import {
  applyPreferenceChanges,
  listTopics,
  type PreferenceChange,
  preferenceRows,
  preferencesView,
  setPauseIn,
} from '../preferences/service.ts';
import { preferencesUrl } from '../tokens/tokens.ts';
import {
  accountById,
  anonymiseContact,
  type ContactRow,
  contactByEmail,
  suppressionByHash,
} from './queries.ts';
import {
  accountJson,
  type ContactPatch,
  contactById,
  requireContact,
  suppressIn,
  upsertContact,
  upsertContactIn,
} from './service.ts';

/** upsertContact, answering with the contact as the API shows it. */
export async function saveContact(
  core: Core,
  origin: Origin,
  email: string,
  patch: ContactPatch,
  pausedUntil?: Date | null,
) {
  const { contact, created } = await upsertContact(core, origin, email, patch, (trx, c) =>
    pausedUntil === undefined ? Promise.resolve() : setPauseIn(core, trx, origin, c.id, pausedUntil),
  );
  return { view: await contactView(core, await requireContact(core.db.knex, contact.email)), created };
}

/** One contact as GET /api/v1/contacts/{email} shows it; not_found when there is none. */
export async function getContact(core: Core, email: string) {
  return contactView(core, await requireContact(core.db.knex, email));
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
    pausedUntil:
      contact.paused_until && new Date(contact.paused_until).getTime() > Date.now()
        ? new Date(contact.paused_until).toISOString()
        : null,
    account: account ? accountJson(account) : null,
    preferences: preferencesView(topics, prefs),
    consents,
    suppression: suppression
      ? { reason: suppression.reason, since: suppression.created_at.toISOString() }
      : null,
    preferencesUrl: preferencesUrl(core.config.baseUrl, core.config.tokenKeys, contact.id),
  };
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
    await anonymiseContact(trx, contact.id, emailHash, now);
    // Every copy of the address or number in other parts goes too, each part erasing its own.
    await eraseConsentCopiesIn(core, trx, contact.id, contact.phone);
    await eraseSendRecordsIn(core, trx, contact.id, contact.phone);
    await eraseMessagesIn(trx, contact.id, emailHash);
    await suppressIn(core, trx, origin, { email: contact.email, contactId: contact.id, reason: 'erasure' });
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

/**
 * Everything held about a contact, as one document (GET /api/v1/contacts/{email}/export): the
 * contact, its preferences and pause, every consent with its evidence and receipt, suppression,
 * and its ledger events.
 */
export async function exportContact(core: Core, email: string) {
  const contact = await requireContact(core.db.knex, email);
  const [view, consents, events] = await Promise.all([
    contactView(core, contact),
    consentHistory(core, contact.id),
    eventsOfContact(core.db.knex, contact.id, 100_000),
  ]);
  return {
    exportedAt: new Date().toISOString(),
    contact: view,
    consents: await Promise.all(
      consents.map(async (c) => ({ ...c, receipt: await consentReceipt(core, contact.email, c.id) })),
    ),
    events: events.map(eventJson),
  };
}

/**
 * The preference page's one form, in one transaction: the preferences the person changed, their
 * corrected details (name, language, time zone) and their pause. Each change is on the ledger;
 * nothing changed, nothing written.
 */
export async function savePreferencePage(
  core: Core,
  origin: Origin,
  contactId: string,
  input: { changes: PreferenceChange[]; details: ContactPatch; pause?: Date | null; pauseShown?: boolean },
) {
  return core.db.knex.transaction(async (trx) => {
    const contact = await contactById(trx, contactId, { live: true });
    if (!contact) throw notFound('No such contact.');
    const applied = await applyPreferenceChanges(core, trx, origin, contactId, input.changes, {
      via: 'preferences',
    });
    const { contact: after } = Object.keys(input.details).length
      ? await upsertContactIn(core, trx, origin, contact.email, input.details)
      : { contact };
    const detailsChanged =
      after.name !== contact.name || after.locale !== contact.locale || after.time_zone !== contact.time_zone;
    const paused =
      input.pause !== undefined &&
      (await setPauseIn(core, trx, origin, contactId, input.pause, input.pauseShown));
    return applied.length + (detailsChanged ? 1 : 0) + (paused ? 1 : 0);
  });
}
