// What the console does, for a signed-in staff member. Tenancy lives in the queries: every
// contact a customer_admin can reach is filtered by their account in SQL (`scoped`), never
// loaded first and checked after, so a URL naming another account's contact finds nothing.

import { type BrandInput, saveBrand } from '../brand/service.ts';
import { consentHistory, currentDisclosure, syncDisclosures } from '../consent/service.ts';
import { saveContact } from '../contacts/profile.ts';
import {
  accountById,
  type ContactPatch,
  contactByEmail,
  deleteSuppression,
  suppressIn,
  suppressionByHash,
} from '../contacts/service.ts';
import { type Core, type Reader, sql } from '../core.ts';
import { DomainError } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { keyedHash } from '../keyed-hash.ts';
import { contactEventsNewest } from '../ledger/export.ts';
import type { Origin } from '../ledger/ledger.ts';
import { listTopics, preferenceRows } from '../preferences/service.ts';
import { apiKeyNames } from './api-keys.ts';
import { contactForStaff, type Staff } from './queries.ts';
import { staffEmails } from './staff.ts';

export {
  listAccounts,
  PAGE_SIZE,
  STATUS_FILTERS,
  type Staff,
  type StatusFilter,
  scoped,
  searchContacts,
} from './queries.ts';

export const staffOrigin = (
  staff: Staff,
  req: { ip?: string | null; userAgent?: string | null },
): Origin => ({
  actor: `staff:${staff.userId}`,
  ip: req.ip ?? null,
  userAgent: req.userAgent ?? null,
});

export async function requireContactForStaff(from: Reader, staff: Staff, id: string) {
  const knex = sql(from);
  const c = await contactForStaff(knex, staff, id);
  if (!c) throw new DomainError('not_found', 'No such contact.');
  return c;
}

export const HISTORY_PAGE = 50;

/** A page of a contact's ledger events, newest first: who, what, old → new, from where. */
export async function contactHistory(from: Reader, contactId: string, beforeId?: number) {
  const rows = await contactEventsNewest(sql(from), contactId, HISTORY_PAGE + 1, beforeId);
  const page = rows.slice(0, HISTORY_PAGE);
  return { rows: page, olderThan: rows.length > HISTORY_PAGE ? Number(page[page.length - 1].id) : null };
}

/** A customer administrator's own account, with its agreement (the dashboard shows it). */
export async function ownAccount(core: Core, accountId: string) {
  const a = await accountById(core.db.knex, accountId);
  return a
    ? {
        externalId: a.external_id,
        name: a.name,
        agreement: a.agreement_status,
        signedAt: a.agreement_signed_at ? new Date(a.agreement_signed_at).toISOString().slice(0, 10) : null,
        reference: a.agreement_reference,
      }
    : null;
}

/**
 * A new contact from the console: refused when the address has one already (the console edits
 * that one instead); a customer administrator's goes into their own account. Answers its id.
 */
export async function createContactForStaff(
  core: Core,
  origin: Origin,
  staff: Staff,
  email: string,
  patch: ContactPatch,
): Promise<string> {
  const knex = core.db.knex;
  if (await contactByEmail(knex, email))
    throw new DomainError(
      'conflict',
      `A contact with the address ${email} exists already: find it on the Contacts page and edit it there.`,
    );
  if (staff.role === 'customer_admin') {
    const own = staff.accountId ? await accountById(knex, staff.accountId) : undefined;
    if (!own) throw new DomainError('forbidden', 'Your user has no account to add contacts to.');
    patch.accountExternalId = own.external_id;
  }
  await saveContact(core, origin, email, patch);
  return (await contactByEmail(knex, email))?.id as string;
}

export async function suppressContact(
  core: Core,
  origin: Origin,
  contactId: string,
  email: string,
  note: string,
) {
  return core.db.knex.transaction((trx) =>
    suppressIn(core, trx, origin, { email, contactId, reason: 'manual', data: { note } }),
  );
}

export async function liftSuppression(
  core: Core,
  origin: Origin,
  contactId: string,
  email: string,
  note: string,
) {
  return core.db.knex.transaction(async (trx) => {
    const emailHash = keyedHash(core.config.hashSecret, 'email', email);
    const row = await suppressionByHash(trx, emailHash);
    // Bounces, complaints and erasures are facts from outside; only a manual suppression is lifted here.
    if (row?.reason !== 'manual') return false;
    await deleteSuppression(trx, emailHash);
    await core.ledger.append(trx, origin, {
      type: 'suppression.removed',
      contactId,
      channel: 'email',
      oldValue: 'manual',
      data: { emailHash, note },
    });
    return true;
  });
}

/** What a contact's console page shows, gathered at once: records, history and who acted. */
export async function contactPageFacts(core: Core, staff: Staff, id: string, historyBefore?: number) {
  const knex = core.db.knex;
  const contact = await requireContactForStaff(knex, staff, id);
  const [topics, prefs, consents, { rows: history, olderThan }, suppression, sms, voice] = await Promise.all([
    listTopics(knex),
    preferenceRows(knex, contact.id),
    consentHistory(knex, contact.id),
    contactHistory(knex, contact.id, historyBefore),
    suppressionByHash(knex, keyedHash(core.config.hashSecret, 'email', contact.email)),
    currentDisclosure(knex, 'sms', contact.locale),
    currentDisclosure(knex, 'voice', contact.locale),
  ]);
  // Who acted, in words: staff by address (a customer administrator sees only "staff", never the
  // operator's people or where they worked from), API keys by name, the rest plainly.
  const actors = [
    ...history.map((e) => e.actor as string),
    ...consents.flatMap((k) => [k.capturedBy, k.revokedBy].filter((a): a is string => typeof a === 'string')),
  ];
  const idsOf = (prefix: string) =>
    [...new Set(actors.map((a) => new RegExp(`^${prefix}:(.+)$`).exec(a)?.[1]).filter(Boolean))] as string[];
  const [people, keys] = await Promise.all([
    staff.role === 'customer_admin' ? [] : staffEmails(knex, idsOf('staff')),
    apiKeyNames(knex, idsOf('apikey').filter(isUuid)),
  ]);
  const actorName = (actor: string) => {
    const [kind, id] = [actor.split(':')[0], actor.slice(actor.indexOf(':') + 1)];
    if (kind === 'staff')
      return staff.role === 'customer_admin'
        ? 'staff'
        : `staff ${people.find((p) => p.id === id)?.email ?? '(removed user)'}`;
    if (kind === 'apikey') return `API key “${keys.find((k) => k.id === id)?.name ?? 'removed'}”`;
    return ACTORS[actor] ?? ACTORS[kind] ?? actor;
  };
  const showOrigin = (actor: string) => !(staff.role === 'customer_admin' && actor.startsWith('staff:'));
  // Newest first: what a support agent wants to see is what just happened; 50 a page.
  return {
    contact,
    topics,
    prefs,
    consents,
    history,
    historyOlderThan: olderThan,
    suppression,
    sms,
    voice,
    actorName,
    showOrigin,
    eventLabel: (type: string) => EVENT_LABELS[type] ?? type,
  };
}

/**
 * An owner's brand edit: saved on the ledger, and when the name changed the consent disclosures
 * that name it are published as new versions (the evidence of earlier consents keeps the old).
 */
export async function saveBrandEverywhere(core: Core, origin: Origin, input: BrandInput) {
  const saved = await saveBrand(core, origin, input);
  if (saved.changed.includes('name')) await syncDisclosures(core, saved.brand.name);
  return saved;
}

const ACTORS: Record<string, string> = {
  recipient: 'the person (link, page or mail)',
  system: 'the system',
  import: 'an import',
  'provider:sendgrid': 'SendGrid (bounce, complaint or unsubscribe)',
  'provider:sms': 'a text message (STOP, START)',
};

/** Plain words for the ledger's event types. */
const EVENT_LABELS: Record<string, string> = {
  'contact.created': 'Contact created',
  'contact.updated': 'Contact details changed',
  'contact.erased': 'Contact erased',
  'contact.merged': 'Contact merged',
  'preference.changed': 'Preference changed',
  'preference.feedback': 'Reason given for leaving',
  'consent.granted': 'Consent given',
  'consent.revoked': 'Consent withdrawn',
  'suppression.added': 'Suppressed',
  'suppression.removed': 'Suppression lifted',
  'data_request.created': 'Data request made',
  'data_request.confirmed': 'Deletion request confirmed',
  'data_request.decided': 'Deletion request decided',
};
