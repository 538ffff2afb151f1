// Email, SMS and voice marketing preferences. Marketing is opt-out: no row means subscribed.
// Every actual change writes one ledger event in the same transaction; a save that changes
// nothing writes nothing.

import type { Knex } from 'knex';
import { brandedSender, currentBrand } from '../brand/service.ts';
import {
  clearEndedPause,
  contactByEmail,
  contactById,
  duePauses,
  lockContact,
  setPausedUntil,
} from '../contacts/service.ts';
import type { Core } from '../core.ts';
import { type AgreementStatus, CHANNELS, type Channel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { escapeHtml } from '../html.ts';
import { format, type Locale, pickLocale, strings } from '../i18n/index.ts';
import { type Jobs, QUEUES } from '../jobs/jobs.ts';
import type { Origin } from '../ledger/ledger.ts';
import type { Mailer } from '../mail/service.ts';
import { preferencesUrl } from '../tokens/tokens.ts';
import {
  forgetTopics,
  listTopics,
  preferenceRowsOf,
  setPreferenceRow,
  type Topic,
  topicForUpdate,
  topicJson,
  topicUsed,
  writeTopic,
} from './queries.ts';

// This file is the part's door: topics are read through it.
export {
  cachedTopics,
  forgetTopics,
  knownTopicSlugs,
  listTopics,
  type Topic,
  topicBySlug,
  topicJson,
} from './queries.ts';

/** Every topic as the API shows it. */
export async function topicList(core: Core) {
  return (await listTopics(core.db.knex)).map(topicJson);
}

export type PrefStatus = 'subscribed' | 'unsubscribed';

export interface PreferenceChange {
  channel: Channel;
  /** null: the channel's all-marketing switch */
  topic: string | null;
  status: PrefStatus;
}

export interface PreferenceRow {
  channel: Channel;
  topic: string | null;
  status: PrefStatus;
}

export interface ChannelPreferences {
  allMarketing: PrefStatus;
  topics: Record<string, PrefStatus>;
}

export type PreferencesView = Record<Channel, ChannelPreferences>;

export function preferenceRows(q: Knex | Knex.Transaction, contactId: string): Promise<PreferenceRow[]> {
  return preferenceRowsOf(q, contactId) as Promise<PreferenceRow[]>;
}

/** The contact's stated preferences for every marketing topic on every channel it is offered on. */
export function preferencesView(topics: Topic[], rows: PreferenceRow[]): PreferencesView {
  const find = (channel: Channel, topic: string | null) =>
    rows.find((r) => r.channel === channel && r.topic === topic)?.status ?? 'subscribed';
  const view = {} as PreferencesView;
  for (const channel of CHANNELS) {
    const entry: ChannelPreferences = { allMarketing: find(channel, null), topics: {} };
    for (const t of topics) {
      if (t.kind === 'marketing' && t.channels.includes(channel))
        entry.topics[t.slug] = find(channel, t.slug);
    }
    view[channel] = entry;
  }
  return view;
}

/** Checks a change against the topic list: operational topics cannot be left, channels must be offered. */
export function validateChange(topics: Topic[], change: PreferenceChange): void {
  if (change.topic === null) return;
  const topic = topics.find((t) => t.slug === change.topic);
  if (!topic) {
    throw new DomainError('validation_failed', `Unknown topic "${change.topic}".`, [
      { field: 'topic', message: `one of ${topics.map((t) => t.slug).join(', ')}` },
    ]);
  }
  if (topic.kind === 'operational') {
    throw new DomainError(
      'validation_failed',
      `"${topic.name}" is an operational topic: account and administrative notices cannot be unsubscribed from.`,
      [{ field: 'topic', message: 'operational topics always stay on' }],
    );
  }
  if (!topic.channels.includes(change.channel)) {
    throw new DomainError('validation_failed', `"${topic.name}" is not offered on ${change.channel}.`, [
      { field: 'channel', message: `offered on ${topic.channels.join(', ')}` },
    ]);
  }
}

/**
 * Applies changes inside the caller's transaction and returns those that actually changed state.
 * The ledger append locks the contact row first, so concurrent changes to one contact serialise.
 */
export async function applyPreferenceChanges(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  contactId: string,
  changes: PreferenceChange[],
  data: Record<string, string> = {},
): Promise<(PreferenceChange & { from: PrefStatus })[]> {
  await lockContact(trx, contactId);
  const topics = await listTopics(trx);
  for (const c of changes) validateChange(topics, c);
  const current = await preferenceRows(trx, contactId);
  const done: (PreferenceChange & { from: PrefStatus })[] = [];
  for (const change of changes) {
    const existing = current.find((r) => r.channel === change.channel && r.topic === change.topic);
    const from: PrefStatus = existing?.status ?? 'subscribed';
    if (from === change.status) continue;
    await setPreferenceRow(trx, contactId, change, Boolean(existing));
    if (existing) existing.status = change.status;
    else current.push({ ...change });
    await core.ledger.append(trx, origin, {
      type: 'preference.changed',
      contactId,
      channel: change.channel,
      topic: change.topic ?? '*',
      oldValue: from,
      newValue: change.status,
      data,
    });
    done.push({ ...change, from });
  }
  return done;
}

export function setPreferences(
  core: Core,
  origin: Origin,
  contactId: string,
  changes: PreferenceChange[],
  data: Record<string, string> = {},
) {
  return core.db.knex.transaction((trx) =>
    applyPreferenceChanges(core, trx, origin, contactId, changes, data),
  );
}

/** A live contact reached through a link token, with what the pages need to know. */
export interface LinkContact {
  id: string;
  email: string;
  name: string | null;
  locale: string | null;
  phone: string | null;
  agreement: AgreementStatus | null;
  time_zone: string | null;
  suppressed: boolean;
  paused_until: Date | string | null;
}

const LINK_CONTACT = `select c.id, c.email, c.name, c.locale, c.phone, c.time_zone, c.suppressed, c.paused_until,
        c.optouts, c.merged_into, c.erased_at is not null as erased,
        (select a.agreement_status from accounts a where a.id = c.account_id) as agreement
   from contacts c where c.id = $1`;

type LinkRow = LinkContact & { optouts: string[]; merged_into: string | null; erased: boolean };

/**
 * The contact a token names (or the one it was merged into), or null when it is erased or gone
 * (the page then says 404), with its marketing choices. One primary-key probe, one prepared
 * statement: the choices come from contacts.optouts, the snapshot of the unsubscribed preference
 * rows that the check itself reads (a preference row saying "subscribed" reads the same as none),
 * so a page costs the database what a check does. A merged contact costs a second probe.
 */
export async function linkContact(
  core: Core,
  contactId: string,
): Promise<(LinkContact & { preferences: PreferenceRow[] }) | null> {
  let [row] = await core.db.read<LinkRow>('link_contact', LINK_CONTACT, [contactId]);
  if (row?.merged_into) [row] = await core.db.read<LinkRow>('link_contact', LINK_CONTACT, [row.merged_into]);
  if (!row || row.erased) return null;
  const { optouts, merged_into: _merged, erased: _erased, ...contact } = row;
  return { ...contact, preferences: optouts.map(optoutRow) };
}

/** "email:newsletter" / "sms:*" as the preference row it stands for. */
function optoutRow(entry: string): PreferenceRow {
  const at = entry.indexOf(':');
  const topic = entry.slice(at + 1);
  return {
    channel: entry.slice(0, at) as Channel,
    topic: topic === '*' ? null : topic,
    status: 'unsubscribed',
  };
}

export const FEEDBACK_REASONS = ['too_many', 'not_relevant', 'never_signed_up', 'other'] as const;
export type FeedbackReason = (typeof FEEDBACK_REASONS)[number];

/** A change as it was undone or made, written into the confirmation page's Undo form. */
export type AppliedChange = PreferenceChange & { from: PrefStatus };

export function encodeChange(c: AppliedChange): string {
  return `${c.channel}:${c.topic ?? '*'}:${c.from}`;
}

/** Parses an Undo field; null when it is not one (the caller answers 400). */
export function decodeChange(value: string): PreferenceChange | null {
  const m = /^(email|sms|voice):([a-z0-9][a-z0-9-]{0,62}|\*):(subscribed|unsubscribed)$/.exec(value);
  if (!m) return null;
  return { channel: m[1] as Channel, topic: m[2] === '*' ? null : m[2], status: m[3] as PrefStatus };
}

/**
 * The changes a preference form asks for, given what the page showed (its `was` fields, as
 * encodeChange wrote them). A value the person left as shown is not a change: applying it would
 * undo whatever happened elsewhere since the page was rendered (a one-click unsubscribe, a
 * STOP). A value the page did not show is not applied. A form without any `was` (a page older
 * than this rule) may still take people out, never put them back in.
 */
export function changedOnPage(submitted: PreferenceChange[], was: string[]): PreferenceChange[] {
  const shown = new Map<string, PrefStatus>();
  for (const w of was) {
    const c = decodeChange(w);
    if (c) shown.set(`${c.channel}:${c.topic ?? '*'}`, c.status);
  }
  if (shown.size === 0) return submitted.filter((c) => c.status === 'unsubscribed');
  return submitted.filter((c) => {
    const before = shown.get(`${c.channel}:${c.topic ?? '*'}`);
    return before !== undefined && before !== c.status;
  });
}

/**
 * The unsubscribe link's actions, on the email channel (the link came in an email): one topic,
 * or the all-marketing switch. Idempotent: a second click changes nothing and writes nothing.
 */
export function unsubscribeByLink(core: Core, origin: Origin, contactId: string, topic: string | null) {
  return setPreferences(core, origin, contactId, [{ channel: 'email', topic, status: 'unsubscribed' }], {
    via: 'link',
  });
}

export function recordFeedback(
  core: Core,
  origin: Origin,
  contactId: string,
  reason: FeedbackReason,
  topic: string,
) {
  return core.db.knex.transaction((trx) =>
    core.ledger.append(trx, origin, {
      type: 'preference.feedback',
      contactId,
      channel: 'email',
      topic,
      newValue: reason,
    }),
  );
}

/**
 * "Email me my link": queues the mail for a known address (the job holds the contact id, never
 * the address); an unknown address gets nothing. Called after the page has answered, so neither
 * the page nor its timing tells whether we know the address.
 */
export async function queuePreferencesLink(core: Core, jobs: Jobs, email: string, pageLocale: Locale) {
  const contact = await contactByEmail(core.db.knex, email);
  if (!contact) return null;
  return jobs.send(QUEUES.preferencesLink, { contactId: contact.id, locale: pageLocale });
}

/** The job: mails the preferences link as an operational message (nothing if the contact is gone). */
export async function sendPreferencesLink(core: Core, mailer: Mailer, contactId: string, pageLocale: Locale) {
  const contact = await linkContact(core, contactId);
  if (!contact) return null;
  const t = strings(pickLocale(contact.locale, pageLocale));
  const url = preferencesUrl(core.config.baseUrl, core.config.tokenKeys, contact.id);
  const brand = await currentBrand(core);
  const footer = [brand.name, brand.postalAddress].filter(Boolean).join(' · ');
  return mailer.send({
    to: contact.email,
    from: brandedSender(brand.name, core.config.mailFrom),
    topic: 'account',
    subject: format(t.linkSubject, { brand: brand.name }),
    text: format(t.linkText, { url, brand: brand.name, footer }),
    html: format(t.linkHtml, {
      url: escapeHtml(url),
      brand: escapeHtml(brand.name),
      footer: escapeHtml(footer),
    }),
  });
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
      const existing = await topicForUpdate(trx, input.slug);
      if (isNew && existing) throw new DomainError('conflict', `A topic "${input.slug}" already exists.`);
      if (!isNew && !existing) throw new DomainError('not_found', 'No such topic.');
      if (existing && existing.kind !== input.kind) {
        const used = await topicUsed(trx, input.slug);
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
      await writeTopic(trx, input.slug, row, Boolean(existing));
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

// ---- pause: a break from marketing email instead of leaving ---------------------------------

export const PAUSE_DAYS = [30, 60, 90] as const;
const MAX_PAUSE_MS = 366 * 24 * 3600_000;

/** A pause end the API accepts: a future instant at most a year ahead (null ends a pause). */
export function pauseProblem(until: Date | null, now: Date): string | null {
  if (until === null) return null;
  if (until.getTime() <= now.getTime()) return 'must be in the future (null ends a pause)';
  if (until.getTime() - now.getTime() > MAX_PAUSE_MS) return 'at most a year ahead';
  return null;
}

/**
 * Starts, changes or ends a contact's pause inside the caller's transaction, with its ledger
 * event (`preference.changed`, email, all marketing: `paused` with its end, or back to
 * `subscribed`). Nothing changes, nothing is written.
 */
export async function setPauseIn(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  contactId: string,
  until: Date | null,
  /** The stale-page rule: whether the page the person saw showed a pause. When the pause has
   *  changed since (another tab, a resent form whose first send landed late), nothing changes. */
  shownPaused?: boolean,
) {
  await lockContact(trx, contactId);
  const contact = await contactById(trx, contactId);
  if (!contact) throw new DomainError('not_found', 'No such contact.');
  const before = contact.paused_until ? new Date(contact.paused_until) : null;
  const now = new Date();
  const wasPaused = before !== null && before.getTime() > now.getTime();
  if (shownPaused !== undefined && shownPaused !== wasPaused) return false;
  if ((before?.getTime() ?? null) === (until?.getTime() ?? null)) return false;
  await setPausedUntil(trx, contactId, until);
  if (!wasPaused && until === null) return true; // a pause that had ended already: the sweep's event stands
  await core.ledger.append(trx, origin, {
    type: 'preference.changed',
    contactId,
    channel: 'email',
    topic: '*',
    oldValue: wasPaused ? 'paused' : 'subscribed',
    newValue: until ? 'paused' : 'subscribed',
    data: until ? { pausedUntil: until.toISOString() } : { pauseEnded: 'early' },
  });
  return true;
}

/**
 * The unsubscribe page's pause: 30, 60 or 90 days from now. Its buttons show only to someone
 * not paused, so a second press (or a resent form) while a pause runs changes nothing.
 * Answers the pause in force afterwards.
 */
export function pauseForDays(
  core: Core,
  origin: Origin,
  contactId: string,
  days: (typeof PAUSE_DAYS)[number],
  now: Date,
) {
  const until = new Date(now.getTime() + days * 24 * 3600_000);
  return core.db.knex.transaction(async (trx) => {
    await setPauseIn(core, trx, origin, contactId, until, false);
    const after = await contactById(trx, contactId);
    return after?.paused_until ? new Date(after.paused_until) : until;
  });
}

export function endPause(core: Core, origin: Origin, contactId: string) {
  return core.db.knex.transaction((trx) => setPauseIn(core, trx, origin, contactId, null));
}

/**
 * Pauses that have run out: each gets its ledger event (actor `system`) so feed and webhook
 * consumers learn that marketing resumed. The check already allows from the pause's end; this
 * writes that it happened. Safe with several processes: each pause is ended once.
 */
export async function endDuePauses(core: Core, now: Date, limit = 500) {
  let ended = 0;
  for (const due of await duePauses(core.db.knex, now, limit)) {
    const until = new Date(due.paused_until);
    const done = await core.db.knex.transaction(async (trx) => {
      if (!(await clearEndedPause(trx, due.id, until))) return false;
      await core.ledger.append(
        trx,
        { actor: 'system' },
        {
          type: 'preference.changed',
          contactId: due.id,
          channel: 'email',
          topic: '*',
          oldValue: 'paused',
          newValue: 'subscribed',
          data: { pauseEnded: until.toISOString() },
        },
      );
      return true;
    });
    if (done) ended++;
  }
  return ended;
}

// ---- what an unsubscribe link's page shows, and its buttons -------------------------------

/** Whether an email topic (null: all marketing) is turned off in these preference rows. */
const emailOff = (rows: PreferenceRow[]) => (topic: string | null) =>
  rows.some((p) => p.channel === 'email' && p.topic === topic && p.status === 'unsubscribed');

export type LinkState = 'subscribed' | 'unsubscribed_topic' | 'unsubscribed_all' | 'paused' | 'suppressed';

/** Where a contact stands for one email topic, in the order the check decides it. */
export function linkState(
  contact: Pick<LinkContact, 'suppressed' | 'paused_until'> & { preferences: PreferenceRow[] },
  topic: string,
  now: Date,
): LinkState {
  const off = emailOff(contact.preferences);
  if (contact.suppressed) return 'suppressed';
  if (off(null)) return 'unsubscribed_all';
  if (off(topic)) return 'unsubscribed_topic';
  if (contact.paused_until && new Date(contact.paused_until).getTime() > now.getTime()) return 'paused';
  return 'subscribed';
}

/** The marketing email topics that still come to this contact (none while all marketing is off). */
export function stillComing(contact: { preferences: PreferenceRow[] }, topics: Topic[]) {
  const off = emailOff(contact.preferences);
  if (off(null)) return [];
  return topics.filter((t) => t.kind === 'marketing' && t.channels.includes('email') && !off(t.slug));
}

/**
 * The link page's "Resubscribe": this topic comes again, and only this one. A pause ends; a
 * topic left comes back; after "all marketing off" the switch goes back on with every other
 * email topic left off (they were not asked for). One transaction, each change on the ledger.
 */
export function resubscribeByLink(core: Core, origin: Origin, contactId: string, topic: string) {
  return core.db.knex.transaction(async (trx) => {
    await lockContact(trx, contactId);
    const topics = await listTopics(trx);
    const rows = (await preferenceRowsOf(trx, contactId)) as PreferenceRow[];
    const off = emailOff(rows);
    const changes: PreferenceChange[] = [];
    if (off(null)) {
      changes.push({ channel: 'email', topic: null, status: 'subscribed' });
      for (const t of topics)
        if (t.kind === 'marketing' && t.channels.includes('email') && t.slug !== topic && !off(t.slug))
          changes.push({ channel: 'email', topic: t.slug, status: 'unsubscribed' });
    }
    if (off(topic)) changes.push({ channel: 'email', topic, status: 'subscribed' });
    const applied = await applyPreferenceChanges(core, trx, origin, contactId, changes, {
      via: 'resubscribe',
    });
    const unpaused = await setPauseIn(core, trx, origin, contactId, null);
    return { applied, unpaused };
  });
}

/**
 * A message to a List-Unsubscribe mailto: address: the code's topic, as a one-click does (only
 * marketing topics can be left; a merged contact's code reaches the contact it became). False
 * when there is nothing to unsubscribe (an erased contact, an operational topic).
 */
export async function unsubscribeByMail(core: Core, origin: Origin, contactId: string, topic: string) {
  const contact = await linkContact(core, contactId);
  if (!contact) return false;
  const t = (await listTopics(core.db.knex)).find((x) => x.slug === topic);
  if (t?.kind !== 'marketing') return false;
  await setPreferences(core, origin, contact.id, [{ channel: 'email', topic, status: 'unsubscribed' }], {
    via: 'mailto',
  });
  return true;
}
