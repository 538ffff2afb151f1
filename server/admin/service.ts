// What the console does, for a signed-in staff member. Tenancy lives in the queries: every
// contact a customer_admin can reach is filtered by their account in SQL (`scoped`), never
// loaded first and checked after, so a URL naming another account's contact finds nothing.

import { type BrandInput, saveBrand } from '../brand/service.ts';
import { consentHistory, currentDisclosure, syncDisclosures } from '../consent/service.ts';
import { deleteSuppression, suppressIn, suppressionByHash } from '../contacts/service.ts';
import { type Core, type Reader, sql } from '../core.ts';
import { DomainError } from '../errors.ts';
import { keyedHash } from '../keyed-hash.ts';
import { eventsOfContact } from '../ledger/export.ts';
import type { Origin } from '../ledger/ledger.ts';
import { listTopics, preferenceRows } from '../preferences/service.ts';
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

/** Every ledger event of a contact, in order: who, what, old → new, from where. */
export function contactHistory(from: Reader, contactId: string) {
  return eventsOfContact(sql(from), contactId, 5000);
}

export async function suppressContact(core: Core, origin: Origin, contactId: string, email: string) {
  return core.db.knex.transaction((trx) =>
    suppressIn(core, trx, origin, { email, contactId, reason: 'manual' }),
  );
}

export async function liftSuppression(core: Core, origin: Origin, contactId: string, email: string) {
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
      data: { emailHash },
    });
    return true;
  });
}

/** What a contact's console page shows, gathered at once: records, history and who acted. */
export async function contactPageFacts(core: Core, staff: Staff, id: string) {
  const knex = core.db.knex;
  const contact = await requireContactForStaff(knex, staff, id);
  const [topics, prefs, consents, history, suppression, sms, voice] = await Promise.all([
    listTopics(knex),
    preferenceRows(knex, contact.id),
    consentHistory(knex, contact.id),
    contactHistory(knex, contact.id),
    suppressionByHash(knex, keyedHash(core.config.hashSecret, 'email', contact.email)),
    currentDisclosure(knex, 'sms', contact.locale),
    currentDisclosure(knex, 'voice', contact.locale),
  ]);
  // Show who acted by name: staff actors are stored as ids on the ledger.
  const staffIds = [
    ...new Set(history.map((e) => /^staff:(.+)$/.exec(e.actor)?.[1]).filter(Boolean)),
  ] as string[];
  const people = await staffEmails(knex, staffIds);
  const actorName = (actor: string) => {
    const id = /^staff:(.+)$/.exec(actor)?.[1];
    const who = id && people.find((p) => p.id === id);
    return who ? `staff ${who.email}` : actor;
  };
  return { contact, topics, prefs, consents, history, suppression, sms, voice, actorName };
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
