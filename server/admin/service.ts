// What the console does, for a signed-in staff member. Tenancy lives in the queries: every
// contact a customer_admin can reach is filtered by their account in SQL (`scoped`), never
// loaded first and checked after, so a URL naming another account's contact finds nothing.

import type { Knex } from 'knex';
import { consentHistory, currentDisclosure } from '../consent/service.ts';
import { canonicalEmail, parsePhone, suppressIn, suppressionByHash } from '../contacts/service.ts';
import { type Core, type Reader, sql } from '../core.ts';
import type { Channel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { keyedHash } from '../keyed-hash.ts';
import type { Origin } from '../ledger/ledger.ts';
import { forgetTopics, listTopics, preferenceRows } from '../preferences/service.ts';
import type { StaffSession } from './sessions.ts';
import { staffEmails } from './staff.ts';

export type Staff = Pick<StaffSession, 'userId' | 'role' | 'accountId'>;

export const PAGE_SIZE = 50;

export const staffOrigin = (
  staff: Staff,
  req: { ip?: string | null; userAgent?: string | null },
): Origin => ({
  actor: `staff:${staff.userId}`,
  ip: req.ip ?? null,
  userAgent: req.userAgent ?? null,
});

/** Limits a query on `contacts as c` to what this staff member may see. */
export function scoped<T extends Knex.QueryBuilder>(q: T, staff: Staff): T {
  if (staff.role === 'customer_admin') q.where('c.account_id', staff.accountId as string);
  return q;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (m) => `\\${m}`);

export async function searchContacts(
  from: Reader,
  staff: Staff,
  input: { q?: string; account?: string; page?: number },
  region: string,
) {
  const knex = sql(from);
  const q = scoped(
    knex('contacts as c').leftJoin('accounts as a', 'a.id', 'c.account_id').whereNull('c.erased_at'),
    staff,
  );
  const term = input.q?.trim() ?? '';
  if (term) {
    const phone = /^[+\d][\d\s().-]{5,}$/.test(term) ? parsePhone(term, region) : null;
    if (phone?.ok) q.where('c.phone', phone.e164);
    else if (term.includes('@')) q.whereLike('c.email_key', `${escapeLike(canonicalEmail(term))}%`);
    else
      q.where((w) =>
        w
          .whereRaw('c.name ilike ?', [`%${escapeLike(term)}%`])
          .orWhereLike('c.email_key', `${escapeLike(canonicalEmail(term))}%`),
      );
  }
  if (input.account) q.where('a.external_id', input.account);
  const page = Math.max(1, Math.min(input.page ?? 1, 10_000));
  const rows = await q
    .clone()
    .orderBy('c.email')
    .limit(PAGE_SIZE + 1)
    .offset((page - 1) * PAGE_SIZE)
    .select(
      'c.id',
      'c.email',
      'c.name',
      'c.phone',
      'a.external_id as account',
      'a.agreement_status as agreement',
    );
  return { rows: rows.slice(0, PAGE_SIZE), page, more: rows.length > PAGE_SIZE };
}

/** One contact this staff member may see, or undefined (the page answers 404). */
export async function contactForStaff(knex: Knex | Knex.Transaction, staff: Staff, id: string) {
  if (!isUuid(id)) return undefined;
  return scoped(
    knex('contacts as c')
      .leftJoin('accounts as a', 'a.id', 'c.account_id')
      .where('c.id', id)
      .whereNull('c.erased_at'),
    staff,
  ).first(
    'c.*',
    'a.external_id as account_external_id',
    'a.name as account_name',
    'a.agreement_status as agreement',
  );
}

export async function requireContactForStaff(from: Reader, staff: Staff, id: string) {
  const knex = sql(from);
  const c = await contactForStaff(knex, staff, id);
  if (!c) throw new DomainError('not_found', 'No such contact.');
  return c;
}

/** Every ledger event of a contact, in order: who, what, old → new, from where. */
export function contactHistory(knex: Knex, contactId: string) {
  return knex('events').where({ contact_id: contactId }).orderBy('id').limit(5000);
}

export async function suppressContact(core: Core, origin: Origin, contactId: string, email: string) {
  return core.db.knex.transaction((trx) =>
    suppressIn(core, trx, origin, { email, contactId, reason: 'manual' }),
  );
}

export async function liftSuppression(core: Core, origin: Origin, contactId: string, email: string) {
  return core.db.knex.transaction(async (trx) => {
    const emailHash = keyedHash(core.config.hashSecret, 'email', email);
    const row = await trx('suppressions').where({ email_hash: emailHash }).first();
    // Bounces, complaints and erasures are facts from outside; only a manual suppression is lifted here.
    if (row?.reason !== 'manual') return false;
    await trx('suppressions').where({ email_hash: emailHash }).del();
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

export function listAccounts(from: Reader) {
  const knex = sql(from);
  return knex('accounts as a')
    .leftJoin('contacts as c', (j) => j.on('c.account_id', 'a.id').andOnNull('c.erased_at'))
    .groupBy('a.id')
    .orderBy('a.external_id')
    .select('a.*', knex.raw('count(c.id)::int as contacts'));
}

/** Topics: a topic's kind is fixed once messages exist; making an operational topic marketing needs its slug typed. */
export async function saveTopic(
  core: Core,
  origin: Origin,
  input: {
    slug: string;
    name: string;
    description: string | null;
    kind: 'marketing' | 'operational';
    channels: Channel[];
    sendgridGroupId: number | null;
    confirm?: string;
  },
  isNew: boolean,
) {
  return core.db.knex
    .transaction(async (trx) => {
      const existing = await trx('topics').where({ slug: input.slug }).forUpdate().first();
      if (isNew && existing) throw new DomainError('conflict', `A topic "${input.slug}" already exists.`);
      if (!isNew && !existing) throw new DomainError('not_found', 'No such topic.');
      if (existing && existing.kind !== input.kind) {
        const used = await trx('messages').where({ topic: input.slug }).first('id');
        if (used) {
          throw new DomainError(
            'conflict',
            'Messages were already sent under this topic, so its kind cannot change.',
            [{ field: 'kind', message: 'fixed once messages exist' }],
          );
        }
        if (existing.kind === 'operational' && input.confirm !== input.slug) {
          throw new DomainError(
            'validation_failed',
            'Making an operational topic a marketing one lets recipients leave it: type the topic slug to confirm.',
            [{ field: 'confirm', message: `type "${input.slug}"` }],
          );
        }
      }
      const row = {
        name: input.name,
        description: input.description,
        kind: input.kind,
        channels: input.channels,
        sendgrid_group_id: input.sendgridGroupId,
      };
      if (existing)
        await trx('topics')
          .where({ slug: input.slug })
          .update({ ...row, updated_at: new Date() });
      else await trx('topics').insert({ slug: input.slug, ...row, position: 500 });
      await core.ledger.append(trx, origin, {
        type: existing ? 'topic.updated' : 'topic.created',
        topic: input.slug,
        oldValue: existing?.kind ?? null,
        newValue: input.kind,
        data: { channels: input.channels },
      });
    })
    .finally(() => forgetTopics(core.db.knex));
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
