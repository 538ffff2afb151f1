// The preferences part's SQL: topics (with a short-lived copy for pages) and stated preferences.
import type { Knex } from 'knex';
import { type Reader, sql } from '../core.ts';
import type { Channel } from '../domain.ts';

export type TopicKind = 'marketing' | 'operational';

export interface Topic {
  slug: string;
  name: string;
  description: string | null;
  kind: TopicKind;
  channels: Channel[];
  sendgrid_group_id: number | null;
  position: number;
}

let lastKnownSlugs: string[] = [];

/** The topic slugs of the last successful read (for work that must go on without the database). */
export function knownTopicSlugs() {
  return lastKnownSlugs;
}

export function listTopics(from: Reader): Promise<Topic[]> {
  const q = sql(from);
  return q('topics')
    .select('slug', 'name', 'description', 'kind', 'channels', 'sendgrid_group_id', 'position')
    .orderBy([{ column: 'position' }, { column: 'slug' }])
    .then((rows: Topic[]) => {
      lastKnownSlugs = rows.map((t) => t.slug);
      return rows;
    });
}

export function topicBySlug(q: Knex | Knex.Transaction, slug: string): Promise<Topic | undefined> {
  return q('topics').where({ slug }).first();
}

export function topicJson(t: Topic) {
  return {
    slug: t.slug,
    name: t.name,
    description: t.description,
    kind: t.kind,
    channels: t.channels,
    sendgridGroupId: t.sendgrid_group_id,
  };
}

// Pages show topic names on every view; topics change rarely (console), so GET pages read them
// from a copy at most 5 seconds old. Decisions never use this copy (they read the database).
const TOPICS_TTL_MS = 5000;
const topicCache = new WeakMap<object, { at: number; topics: Promise<Topic[]> }>();

export function cachedTopics(from: Reader): Promise<Topic[]> {
  const q = sql(from);
  const hit = topicCache.get(q);
  if (hit && Date.now() - hit.at < TOPICS_TTL_MS) return hit.topics;
  const topics = listTopics(q);
  topicCache.set(q, { at: Date.now(), topics });
  topics.catch(() => topicCache.delete(q));
  return topics;
}

/** Called after a topic is saved, so this process shows the change at once. */
export function forgetTopics(q: Knex) {
  topicCache.delete(q);
}

export function preferenceRowsOf(q: Knex | Knex.Transaction, contactId: string) {
  return q('preferences').where({ contact_id: contactId }).select('channel', 'topic', 'status');
}

export async function setPreferenceRow(
  trx: Knex.Transaction,
  contactId: string,
  row: { channel: Channel; topic: string | null; status: string },
  exists: boolean,
) {
  if (!exists) {
    await trx('preferences').insert({ contact_id: contactId, ...row });
    return;
  }
  const q = trx('preferences').where({ contact_id: contactId, channel: row.channel });
  await (row.topic === null ? q.whereNull('topic') : q.where({ topic: row.topic })).update({
    status: row.status,
    updated_at: new Date(),
  });
}

export function topicForUpdate(trx: Knex.Transaction, slug: string) {
  return trx('topics').where({ slug }).forUpdate().first();
}

/** Whether any message was sent under a topic (its kind is fixed from then on). */
export async function topicUsed(trx: Knex.Transaction, slug: string) {
  return Boolean(await trx('messages').where({ topic: slug }).first('id'));
}

export async function writeTopic(
  trx: Knex.Transaction,
  slug: string,
  row: Record<string, unknown>,
  exists: boolean,
) {
  if (exists)
    await trx('topics')
      .where({ slug })
      .update({ ...row, updated_at: new Date() });
  else await trx('topics').insert({ slug, ...row, position: 500 });
}
