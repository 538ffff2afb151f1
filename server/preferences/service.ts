// Email, SMS and voice marketing preferences. Marketing is opt-out: no row means subscribed.
// Every actual change writes one ledger event in the same transaction; a save that changes
// nothing writes nothing.
import type { Knex } from 'knex';
import type { Core } from '../core.ts';
import { AppError } from '../http/errors.ts';
import type { Origin } from '../ledger/ledger.ts';
import { CHANNELS, type Channel, listTopics, type Topic } from './topics.ts';

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
  return q('preferences').where({ contact_id: contactId }).select('channel', 'topic', 'status');
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
    throw new AppError('validation_failed', `Unknown topic "${change.topic}".`, [
      { field: 'topic', message: `one of ${topics.map((t) => t.slug).join(', ')}` },
    ]);
  }
  if (topic.kind === 'operational') {
    throw new AppError(
      'validation_failed',
      `"${topic.name}" is an operational topic: account and administrative notices cannot be unsubscribed from.`,
      [{ field: 'topic', message: 'operational topics always stay on' }],
    );
  }
  if (!topic.channels.includes(change.channel)) {
    throw new AppError('validation_failed', `"${topic.name}" is not offered on ${change.channel}.`, [
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
  await trx.raw('select id from contacts where id = ? for update', [contactId]);
  const topics = await listTopics(trx);
  for (const c of changes) validateChange(topics, c);
  const current = await preferenceRows(trx, contactId);
  const done: (PreferenceChange & { from: PrefStatus })[] = [];
  for (const change of changes) {
    const existing = current.find((r) => r.channel === change.channel && r.topic === change.topic);
    const from: PrefStatus = existing?.status ?? 'subscribed';
    if (from === change.status) continue;
    if (existing) {
      const q = trx('preferences').where({ contact_id: contactId, channel: change.channel });
      await (change.topic === null ? q.whereNull('topic') : q.where({ topic: change.topic })).update({
        status: change.status,
        updated_at: new Date(),
      });
      existing.status = change.status;
    } else {
      await trx('preferences').insert({
        contact_id: contactId,
        channel: change.channel,
        topic: change.topic,
        status: change.status,
      });
      current.push({ ...change });
    }
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
