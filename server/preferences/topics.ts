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

export function listTopics(from: Reader): Promise<Topic[]> {
  const q = sql(from);
  return q('topics')
    .select('slug', 'name', 'description', 'kind', 'channels', 'sendgrid_group_id', 'position')
    .orderBy([{ column: 'position' }, { column: 'slug' }]);
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
