// Loads what decide() needs (one query per check or per batch) and asks it. No cache: every
// check reads the committed state, so an opt-out is honoured by the very next check.

import type { Knex } from 'knex';
import { canonicalEmail, cleanEmail, parsePhone } from '../contacts/service.ts';
import type { Core } from '../core.ts';
import type { Channel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { keyedHash, legacyEmailHashes } from '../keyed-hash.ts';

// REASONS is the check's vocabulary: the edge documents it from here.
export { REASONS } from './decide.ts';

import { type Decision, decide, type RecipientState, type TopicFacts } from './decide.ts';
import {
  CLEAN_EMAIL_STATE,
  type EmailRecipientRow,
  emailStates,
  emailStatesSparse,
  emailStateWithTopic,
  hashSendRecordPhones,
  insertSendRecord,
  lockNumberAndTopic,
  type PhoneStateRow,
  phoneStates,
  phoneStatesIn,
  releaseSendRecord,
  reservationByKey,
  suppressedHashes,
  topicFacts,
} from './queries.ts';
import { areaCodeState } from './telephone-rules.ts';

const dateOrNull = (v: Date | string | null | undefined) => (v ? new Date(v) : null);

export type Recipient =
  | { ok: true; input: string; display: string; key: string; country?: string }
  | { ok: false; input: unknown; reason: string };

export interface CheckResult extends Decision {
  recipient: string;
  contactId: string | null;
}

/** Email: trimmed for display, lower-cased for lookup. Phone: E.164 for both. */
export function normaliseRecipient(channel: Channel, raw: unknown, region: string): Recipient {
  if (channel === 'email') {
    const r = cleanEmail(raw);
    return r.ok
      ? { ok: true, input: raw as string, display: r.email, key: canonicalEmail(r.email) }
      : { ok: false, input: raw, reason: r.reason };
  }
  const p = parsePhone(raw, region);
  return p.ok
    ? { ok: true, input: raw as string, display: p.e164, key: p.e164, country: p.country }
    : { ok: false, input: raw, reason: p.reason };
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** What decide() needs about a number, from its row and the number itself. */
function phoneState(row: PhoneStateRow, r: Recipient & { ok: true }): RecipientState {
  return {
    known: !!row.contact_id,
    optouts: row.optouts ?? [],
    agreement: row.agreement_status,
    consent: row.consent,
    timeZone: row.time_zone,
    country: r.country ?? null,
    region: row.region,
    areaState: areaCodeState(r.key),
    recentSends: (row.recent_sends ?? []).map((t) => new Date(t)),
  };
}

/**
 * A check with "reserve": true (sms/voice): decides and, when marketing is allowed, writes a send
 * record in the same transaction, under a lock per number and topic, so concurrent reserving
 * checks can never pass a frequency limit. A `reservationKey` makes a retried reserve count once.
 */
export async function reserveOne(
  core: Core,
  now: Date,
  channel: 'sms' | 'voice',
  topic: TopicFacts,
  r: Recipient & { ok: true },
  opts: { apiKeyId: string | null; reservationKey?: string },
): Promise<CheckResult & { reservationId?: string }> {
  return core.db.knex.transaction(async (trx) => {
    await lockNumberAndTopic(trx, r.key, topic.slug);
    if (opts.reservationKey && opts.apiKeyId) {
      const earlier = await reservationByKey(trx, opts.apiKeyId, opts.reservationKey);
      if (earlier && !earlier.released_at) {
        return {
          allowed: true,
          reason: 'subscribed',
          recipient: r.display,
          contactId: earlier.contact_id,
          reservationId: earlier.id,
        };
      }
    }
    const [row] = await phoneStatesIn(trx, [r.key], channel, topic.slug, new Date(now.getTime() - DAY_MS));
    const d = decide(channel, topic, phoneState(row, r), now);
    const result: CheckResult & { reservationId?: string } = {
      ...d,
      recipient: r.display,
      contactId: row.contact_id,
    };
    if (d.allowed && topic.kind === 'marketing') {
      result.reservationId = await insertSendRecord(trx, {
        phone: r.key,
        channel,
        topic: topic.slug,
        contact_id: row.contact_id,
        api_key_id: opts.apiKeyId,
        reservation_key: opts.reservationKey ?? null,
        reserved_at: now,
      });
    }
    return result;
  });
}

/** A reservation whose send failed no longer counts; false when there is no such reservation of this key. */
export async function releaseReservation(core: Core, apiKeyId: string | null, id: string) {
  return releaseSendRecord(core.db.knex, apiKeyId, id);
}

/**
 * The keyed hashes an unknown address may be suppressed under: over the canonical form, and for
 * non-ASCII addresses the older spellings' too (an erased person must never come back).
 */
function emailHashes(core: Core, r: Recipient & { ok: true }): string[] {
  const secret = core.config.hashSecret;
  return [keyedHash(secret, 'email', r.key), ...legacyEmailHashes(secret, r.display)];
}

/** Suppression only changes an email answer for marketing offered on email. */
const needsSuppressionLookup = (topic: TopicFacts) =>
  topic.kind === 'marketing' && topic.channels.includes('email');

export function unknownTopic(slug: string) {
  return new DomainError('validation_failed', `Unknown topic "${slug}". GET /api/v1/topics lists them.`, [
    { field: 'topic', message: 'unknown topic' },
  ]);
}

export async function requireTopic(core: Core, slug: string): Promise<TopicFacts> {
  const topic = await topicFacts(core.db, slug);
  if (!topic) throw unknownTopic(slug);
  return topic;
}

export async function checkOne(
  core: Core,
  now: Date,
  channel: Channel,
  topicSlug: string,
  r: Recipient & { ok: true },
) {
  if (channel === 'email') {
    const row = await emailStateWithTopic(core.db, r.key, topicSlug);
    if (!row?.kind || !row.channels) throw unknownTopic(topicSlug);
    const topic = { slug: topicSlug, kind: row.kind, channels: row.channels };
    let suppressed = row.suppressed;
    if (!row.contact_id && needsSuppressionLookup(topic)) {
      const hashes = emailHashes(core, r);
      const found = await suppressedHashes(core.db, hashes);
      suppressed = hashes.some((h) => found.has(h));
    }
    const d = decide(
      channel,
      topic,
      {
        known: !!row.contact_id,
        suppressed,
        optouts: row.optouts ?? [],
        pausedUntil: dateOrNull(row.paused_until),
      },
      now,
    );
    return { ...d, recipient: r.display, contactId: row.contact_id };
  }
  const topic = await requireTopic(core, topicSlug);
  const [result] = await checkMany(core, now, channel, topic, [r]);
  return result as CheckResult;
}

/**
 * Decides for many recipients of one channel and topic, in input order. Invalid recipients
 * come back as `{recipient, error}` without costing a lookup.
 */
export async function checkMany(
  core: Core,
  now: Date,
  channel: Channel,
  topic: TopicFacts,
  recipients: Recipient[],
  opts: { withIds?: boolean } = {},
): Promise<(CheckResult | { recipient: unknown; error: string })[]> {
  const valid = recipients.filter((r): r is Recipient & { ok: true } => r.ok);
  const decided: CheckResult[] = [];
  if (valid.length && !topic.channels.includes(channel)) {
    for (const r of valid)
      decided.push({
        ...decide(channel, topic, { known: false }, now),
        recipient: r.display,
        contactId: null,
      });
  } else if (valid.length && channel === 'email') {
    const keys = valid.map((r) => r.key);
    let rows: EmailRecipientRow[];
    if (opts.withIds ?? true) rows = await emailStates(core.db, keys);
    else {
      rows = new Array(keys.length).fill(CLEAN_EMAIL_STATE);
      for (const row of await emailStatesSparse(core.db, keys)) rows[row.i - 1] = row;
    }
    // Only addresses no live contact holds need their keyed hash looked up (an erased person
    // keeps a suppression under the hash); known contacts carry their suppression.
    const unknownHashes = new Map<number, string[]>();
    if (needsSuppressionLookup(topic))
      rows.forEach((row, i) => {
        if (!row.known) unknownHashes.set(i, emailHashes(core, valid[i]));
      });
    const suppressed = unknownHashes.size
      ? await suppressedHashes(core.db, [...new Set([...unknownHashes.values()].flat())])
      : new Set<string>();
    valid.forEach((r, i) => {
      const row = rows[i];
      const hashes = unknownHashes.get(i);
      const d = decide(
        channel,
        topic,
        {
          known: row.known,
          suppressed: hashes ? hashes.some((h) => suppressed.has(h)) : row.suppressed,
          optouts: row.optouts ?? [],
          pausedUntil: dateOrNull(row.paused_until),
        },
        now,
      );
      decided.push({ ...d, recipient: r.display, contactId: row.contact_id });
    });
  } else if (valid.length) {
    const rows = await phoneStates(
      core.db,
      valid.map((r) => r.key),
      channel as 'sms' | 'voice',
      topic.slug,
      new Date(now.getTime() - DAY_MS),
    );
    valid.forEach((r, i) => {
      const d = decide(channel, topic, phoneState(rows[i], r), now);
      decided.push({ ...d, recipient: r.display, contactId: rows[i].contact_id });
    });
  }
  let next = 0;
  return recipients.map((r) => (r.ok ? decided[next++] : { recipient: r.input ?? null, error: r.reason }));
}

/** Erasure, in the caller's transaction: send records keep counting (limits) under the number's keyed hash. */
export async function eraseSendRecordsIn(
  core: Core,
  trx: Knex.Transaction,
  contactId: string,
  phone: string | null,
) {
  if (phone) await hashSendRecordPhones(trx, contactId, keyedHash(core.config.hashSecret, 'phone', phone));
}
