// Data requests: a person asks for a copy of their data (a download behind a one-time link, 24 h)
// or for its deletion (confirmed by a mailed link, then approved — erasure — or declined with a
// reason by staff or the customer administrator of the contact's account, within 45 days). The
// person is told by email either way; every step is on the ledger. Links open a page whose button
// does the work: mail scanners fetch links, and must not confirm anything.
import { createHash, randomBytes } from 'node:crypto';
import { brandedSender, currentBrand } from '../brand/service.ts';
import { eraseContact, exportContact } from '../contacts/profile.ts';
import { contactById } from '../contacts/service.ts';
import type { Core } from '../core.ts';
import { DomainError } from '../errors.ts';
import { format, type Locale, pickLocale, strings } from '../i18n/index.ts';
import { type Jobs, QUEUES } from '../jobs/jobs.ts';
import type { Origin } from '../ledger/ledger.ts';
import type { Mailer } from '../mail/service.ts';
import {
  type DataRequestRow,
  deletionQueue,
  insertRequest,
  overdueCount,
  requestById,
  requestByTokenHash,
  updateRequest,
} from './queries.ts';

export type { DataRequestRow };

const HOUR = 3600_000;
const DAY = 24 * HOUR;
export const DECISION_DAYS = 45;

const tokenHash = (token: string) => createHash('sha256').update(`pc-data:${token}`).digest('hex');

/**
 * A new request from the preference page: its one-time link goes out by mail (a job, queued in
 * the request's transaction, so a request exists exactly when its mail is on its way).
 */
export async function openDataRequest(
  core: Core,
  jobs: Jobs,
  origin: Origin,
  contactId: string,
  kind: DataRequestRow['kind'],
  locale: Locale,
) {
  await jobs.ready();
  const token = randomBytes(24).toString('base64url');
  return core.db.knex.transaction(async (trx) => {
    const contact = await contactById(trx, contactId, { live: true });
    if (!contact) throw new DomainError('not_found', 'No such contact.');
    const row = await insertRequest(trx, {
      contact_id: contact.id,
      account_id: contact.account_id,
      kind,
      status: kind === 'export' ? 'ready' : 'awaiting_confirmation',
      token_hash: tokenHash(token),
      locale,
      expires_at: new Date(Date.now() + (kind === 'export' ? DAY : 7 * DAY)),
    });
    await core.ledger.append(trx, origin, {
      type: 'data_request.created',
      contactId: contact.id,
      newValue: kind,
      data: { requestId: row.id },
    });
    await jobs.send(QUEUES.dataRequestMail, { requestId: row.id, token }, { trx });
    return row;
  });
}

/** The request a link names, if the link is good and not expired (a closed request stays readable). */
export async function requestForLink(core: Core, token: string, now: Date) {
  if (!/^[A-Za-z0-9_-]{20,64}$/.test(token)) return null;
  const row = await requestByTokenHash(core.db.knex, tokenHash(token));
  if (!row) return null;
  const expired =
    row.expires_at.getTime() <= now.getTime() && ['ready', 'awaiting_confirmation'].includes(row.status);
  return { row, expired };
}

/** The download behind an export link (valid until it expires). */
export async function exportForLink(core: Core, token: string, now: Date) {
  const found = await requestForLink(core, token, now);
  if (!found || found.expired || found.row.kind !== 'export' || !found.row.contact_id) return null;
  const contact = await contactById(core.db.knex, found.row.contact_id, { live: true });
  return contact ? exportContact(core, contact.email) : null;
}

/** The button on a deletion link's page: the request now waits for a decision (45 days). */
export async function confirmDeletion(core: Core, origin: Origin, token: string, now: Date) {
  const found = await requestForLink(core, token, now);
  if (!found || found.expired || found.row.kind !== 'deletion') return null;
  return core.db.knex.transaction(async (trx) => {
    const row = (await requestById(trx, found.row.id, { forUpdate: true })) as DataRequestRow;
    if (row.status !== 'awaiting_confirmation') return row; // pressed twice: nothing more
    const updated = await updateRequest(trx, row.id, {
      status: 'pending',
      confirmed_at: now,
      due_at: new Date(now.getTime() + DECISION_DAYS * DAY),
    });
    await core.ledger.append(trx, origin, {
      type: 'data_request.confirmed',
      contactId: row.contact_id,
      newValue: 'pending',
      data: { requestId: row.id },
    });
    return updated;
  });
}

/** Deletion requests a staff member may see (a customer administrator: their account's). */
export function deletionRequests(core: Core, accountId: string | null) {
  return deletionQueue(core.db.knex, accountId);
}

/** Deletion requests past their 45 days (a customer administrator: their account's). */
export function overdueDeletions(core: Core, now: Date, accountId: string | null) {
  return overdueCount(core.db.knex, now, accountId);
}

/**
 * A decision on a pending deletion. Approve: the person is told, then erased (the mail goes
 * first: after erasure there is no address to write to). Decline: the reason is recorded and
 * mailed. `accountId` limits a customer administrator to their own account's requests.
 */
export async function decideDeletion(
  core: Core,
  mailer: Mailer,
  jobs: Jobs,
  origin: Origin,
  input: { id: string; accountId: string | null; decision: 'approve' | 'decline'; reason: string | null },
) {
  const row = await requestById(core.db.knex, input.id);
  if (row?.kind !== 'deletion' || (input.accountId && row.account_id !== input.accountId))
    throw new DomainError('not_found', 'No such request.');
  if (row.status !== 'pending')
    throw new DomainError(
      'conflict',
      `This request is ${row.status.replace('_', ' ')}: there is nothing to decide.`,
    );
  if (input.decision === 'decline' && !input.reason?.trim())
    throw new DomainError('validation_failed', 'Say why the request is declined: the person is told.', [
      { field: 'reason', message: 'required to decline' },
    ]);
  const contact = row.contact_id
    ? await contactById(core.db.knex, row.contact_id, { live: true })
    : undefined;
  if (input.decision === 'approve' && contact) {
    await sendDecisionMail(core, mailer, row, contact, 'approved', null);
    await eraseContact(core, origin, contact.email);
  }
  await jobs.ready();
  return core.db.knex.transaction(async (trx) => {
    const locked = (await requestById(trx, row.id, { forUpdate: true })) as DataRequestRow;
    if (locked.status !== 'pending') return locked;
    const updated = await updateRequest(trx, row.id, {
      status: input.decision === 'approve' ? 'approved' : 'declined',
      decided_at: new Date(),
      decided_by: origin.actor,
      reason: input.reason?.trim().slice(0, 1000) || null,
    });
    await core.ledger.append(trx, origin, {
      type: 'data_request.decided',
      contactId: row.contact_id,
      newValue: updated.status,
      data: { requestId: row.id },
    });
    if (input.decision === 'decline') await jobs.send(QUEUES.dataRequestMail, { requestId: row.id }, { trx });
    return updated;
  });
}

async function sendDecisionMail(
  core: Core,
  mailer: Mailer,
  row: DataRequestRow,
  contact: { id: string; email: string; locale: string | null },
  outcome: 'approved' | 'declined',
  reason: string | null,
) {
  const t = strings(pickLocale(contact.locale, row.locale ?? false));
  const brand = (await currentBrand(core)).name;
  await mailer.send({
    to: contact.email,
    from: brandedSender(brand, core.config.mailFrom),
    topic: 'account',
    subject: format(outcome === 'approved' ? t.mailDeletedSubject : t.mailDeclinedSubject, { brand }),
    text: format(outcome === 'approved' ? t.mailDeletedText : t.mailDeclinedText, {
      brand,
      reason: reason ?? '',
    }),
  });
}

/** The job: a request's mail. With a token: its link; without: the decline (with its reason). */
export async function sendDataRequestMail(core: Core, mailer: Mailer, requestId: string, token?: string) {
  const row = await requestById(core.db.knex, requestId);
  if (!row?.contact_id) return;
  const contact = await contactById(core.db.knex, row.contact_id, { live: true });
  if (!contact) return; // erased meanwhile: nobody to write to
  if (!token) {
    if (row.status === 'declined') await sendDecisionMail(core, mailer, row, contact, 'declined', row.reason);
    return;
  }
  const t = strings(pickLocale(contact.locale, row.locale ?? false));
  const brand = (await currentBrand(core)).name;
  const url = `${core.config.baseUrl}/data/${token}`;
  const deletion = row.kind === 'deletion';
  await mailer.send({
    to: contact.email,
    from: brandedSender(brand, core.config.mailFrom),
    topic: 'account',
    subject: format(deletion ? t.mailDeleteConfirmSubject : t.mailDataLinkSubject, { brand }),
    text: format(deletion ? t.mailDeleteConfirmText : t.mailDataLinkText, { brand, url }),
  });
}
