import type { Knex } from 'knex';

export const CHANNELS = ['email', 'sms', 'voice'] as const;
export type Channel = (typeof CHANNELS)[number];
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

export function listTopics(q: Knex | Knex.Transaction): Promise<Topic[]> {
  return q('topics')
    .select('slug', 'name', 'description', 'kind', 'channels', 'sendgrid_group_id', 'position')
    .orderBy([{ column: 'position' }, { column: 'slug' }]);
}

export function topicBySlug(q: Knex | Knex.Transaction, slug: string): Promise<Topic | undefined> {
  return q('topics').where({ slug }).first();
}

export function isChannel(value: unknown): value is Channel {
  return typeof value === 'string' && (CHANNELS as readonly string[]).includes(value);
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
