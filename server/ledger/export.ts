// The ledger and current preferences as streams, for the events API and console exports.
// Events are read in FEED order (event_feed.seq, handed out at commit: see the migration
// 20261126000300_event_feed), 5,000 at a time, with flat memory on PostgreSQL and PGlite; each
// carries its `cursor`, and a consumer resumes with `after=<cursor>` without ever missing one.

import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { Knex } from 'knex';
import { type Reader, sql } from '../core.ts';
import { jsonColumn } from '../db.ts';
import { drained } from '../streams.ts';

export interface EventFilter {
  since?: Date;
  until?: Date;
  /** Feed position: events placed after it. */
  afterSeq?: number;
  contactId?: string;
  /** Events of this account and of its contacts (the scope of a customer_admin). */
  accountId?: string;
}

const CHUNK = 5000;

// A cell starting with = + - @ is a formula to a spreadsheet (CSV injection): prefix a quote.
export const CSV_CAST = { cast: { string: (v: string) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v) } };

/** Opaque to consumers: they hand back the cursor of the last event they received. */
export function encodeCursor(seq: number): string {
  return `f1.${seq}`;
}

/** The feed position of a cursor, or null when it is not one of ours. */
export function decodeCursor(cursor: string): number | null {
  const m = /^f1\.(\d{1,15})$/.exec(cursor);
  return m ? Number(m[1]) : null;
}

function eventQuery(knex: Knex, f: EventFilter, after: number, limit: number) {
  const q = knex('event_feed as f')
    .join('events as e', 'e.id', 'f.event_id')
    .leftJoin('contacts as c', 'c.id', 'e.contact_id')
    .where('f.seq', '>', after)
    .orderBy('f.seq')
    .limit(limit);
  if (f.since) q.where('e.occurred_at', '>=', f.since);
  if (f.until) q.where('e.occurred_at', '<', f.until);
  if (f.contactId) q.where('e.contact_id', f.contactId);
  if (f.accountId) {
    const account = f.accountId;
    q.where((w) =>
      w
        .where('e.account_id', account)
        .orWhereIn('e.contact_id', knex('contacts').select('id').where('account_id', account)),
    );
  }
  return q;
}

/** True once an event matching the filter is placed after `afterSeq` (the long poll's question). */
export async function hasEventsAfter(from: Reader, f: EventFilter): Promise<boolean> {
  const knex = sql(from);
  const rows = await eventQuery(knex, f, f.afterSeq ?? 0, 1).select('f.seq');
  return rows.length > 0;
}

const EVENT_SELECT = [
  'f.seq',
  'c.email',
  'e.id',
  'e.occurred_at',
  'e.type',
  'e.contact_id',
  'e.account_id',
  'e.channel',
  'e.topic',
  'e.old_value',
  'e.new_value',
  'e.actor',
  'e.ip',
  'e.user_agent',
  'e.data',
];

/** One page of the feed after a position (the webhook dispatcher reads this way). */
export function feedPage(knex: Knex, afterSeq: number, limit: number): Promise<Record<string, unknown>[]> {
  return eventQuery(knex, {}, afterSeq, limit).select(EVENT_SELECT);
}

/** The newest feed position (a new webhook endpoint starts after it). */
export async function feedHead(knex: Knex): Promise<number> {
  const [row] = await knex('event_feed').max({ seq: 'seq' });
  return Number(row?.seq ?? 0);
}

export async function* eventRows(knex: Knex, f: EventFilter) {
  let last = f.afterSeq ?? 0;
  for (;;) {
    const q = eventQuery(knex, f, last, CHUNK);
    const rows = await q.select(EVENT_SELECT);
    for (const r of rows) yield r;
    if (rows.length < CHUNK) return;
    last = Number(rows[rows.length - 1].seq);
  }
}

export function eventJson(r: Record<string, unknown>) {
  return {
    id: Number(r.id),
    cursor: encodeCursor(Number(r.seq)),
    occurredAt: (r.occurred_at as Date).toISOString(),
    type: r.type,
    contactId: r.contact_id,
    // the address, or its keyed hash once the contact is erased
    email: r.email ?? null,
    accountId: r.account_id,
    channel: r.channel,
    topic: r.topic,
    oldValue: r.old_value,
    newValue: r.new_value,
    actor: r.actor,
    ip: r.ip,
    userAgent: r.user_agent,
    data: jsonColumn(r.data),
  };
}

const EVENT_COLUMNS = [
  'id',
  'cursor',
  'occurredAt',
  'type',
  'contactId',
  'email',
  'accountId',
  'channel',
  'topic',
  'oldValue',
  'newValue',
  'actor',
  'ip',
  'userAgent',
  'data',
];

/** Writes rows to `out` honouring back-pressure; stops early if the client goes away. */
async function pump(rows: AsyncIterable<unknown>, write: (row: unknown) => boolean, out: Writable) {
  for await (const row of rows) {
    if (out.destroyed) return;
    if (!write(row)) await drained(out);
  }
}

export async function writeEventsNdjson(from: Reader, f: EventFilter, out: Writable) {
  const knex = sql(from);
  await pump(
    eventRows(knex, f),
    (r) => out.write(`${JSON.stringify(eventJson(r as Record<string, unknown>))}\n`),
    out,
  );
  out.end();
}

export async function writeEventsCsv(from: Reader, f: EventFilter, out: Writable) {
  const knex = sql(from);
  const csv = stringify({ header: true, columns: EVENT_COLUMNS, ...CSV_CAST });
  csv.pipe(out);
  await pump(
    eventRows(knex, f),
    (r) => {
      const j = eventJson(r as Record<string, unknown>);
      return csv.write({ ...j, data: JSON.stringify(j.data) });
    },
    csv,
  );
  csv.end();
}

/** Stated preferences (no row means subscribed), one line per contact, channel and topic ("*": all marketing). */
export async function* preferenceRows(knex: Knex, accountId?: string) {
  let last = '';
  for (;;) {
    const q = knex('preferences as p')
      .join('contacts as c', 'c.id', 'p.contact_id')
      .leftJoin('accounts as a', 'a.id', 'c.account_id')
      .whereNull('c.erased_at')
      .whereRaw("(p.contact_id::text || ':' || p.channel || ':' || coalesce(p.topic, '*')) > ?", [last])
      .orderByRaw("(p.contact_id::text || ':' || p.channel || ':' || coalesce(p.topic, '*'))")
      .limit(CHUNK)
      .select(
        knex.raw("(p.contact_id::text || ':' || p.channel || ':' || coalesce(p.topic, '*')) as k"),
        'c.email',
        'a.external_id as account',
        'p.channel',
        knex.raw("coalesce(p.topic, '*') as topic"),
        'p.status',
        'p.updated_at',
      );
    if (accountId) q.where('c.account_id', accountId);
    const rows = await q;
    for (const r of rows) yield r;
    if (rows.length < CHUNK) return;
    last = rows[rows.length - 1].k;
  }
}

export async function writePreferencesCsv(from: Reader, accountId: string | undefined, out: Writable) {
  const knex = sql(from);
  const csv = stringify({
    header: true,
    columns: ['email', 'account', 'channel', 'topic', 'status', 'updatedAt'],
    ...CSV_CAST,
  });
  csv.pipe(out);
  await pump(
    preferenceRows(knex, accountId),
    (r) => {
      const x = r as Record<string, unknown>;
      return csv.write({ ...x, updatedAt: (x.updated_at as Date).toISOString() });
    },
    csv,
  );
  csv.end();
}

/** A contact's events, oldest first (the console's history). */
export function eventsOfContact(knex: Knex, contactId: string, limit: number) {
  return knex('events as e')
    .join('event_feed as f', 'f.event_id', 'e.id')
    .where('e.contact_id', contactId)
    .orderBy('e.id')
    .limit(limit)
    .select('e.*', 'f.seq');
}

/** A page of a contact's events, newest first, before an event id when given (the console). */
export function contactEventsNewest(knex: Knex, contactId: string, limit: number, beforeId?: number) {
  const q = knex('events as e')
    .join('event_feed as f', 'f.event_id', 'e.id')
    .where('e.contact_id', contactId)
    .orderBy('e.id', 'desc')
    .limit(limit)
    .select('e.*', 'f.seq');
  if (beforeId) q.where('e.id', '<', beforeId);
  return q;
}

/**
 * Every live contact as it stands, a chunk at a time (keyset on id): details, account, what
 * marketing email they get, the email topics they left, pause, suppression and phone consent.
 */
export async function* contactStateRows(knex: Knex, accountId?: string) {
  let last = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await knex.raw(
      `select c.id, c.email, c.name, c.phone, a.external_id as account, c.locale, c.time_zone, c.region,
              c.paused_until, c.optouts, c.created_at, s.reason as suppression,
              (select string_agg(coalesce(p.topic, '*'), ';' order by coalesce(p.topic, '*'))
                 from preferences p
                where p.contact_id = c.id and p.channel = 'email' and p.status = 'unsubscribed') as email_off,
              (select max(k.captured_at) from consents k
                where k.contact_id = c.id and k.channel = 'sms' and k.status = 'granted') as sms_since,
              (select max(k.captured_at) from consents k
                where k.contact_id = c.id and k.channel = 'voice' and k.status = 'granted') as voice_since
         from contacts c
         left join accounts a on a.id = c.account_id
         left join suppressions s on s.email_hash = c.email_hash
        where c.erased_at is null and c.id > ? ${accountId ? 'and c.account_id = ?' : ''}
        order by c.id
        limit ?`,
      accountId ? [last, accountId, CHUNK] : [last, CHUNK],
    );
    for (const r of rows) yield r;
    if (rows.length < CHUNK) return;
    last = rows[rows.length - 1].id;
  }
}

const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : '');

/** The full contact export as CSV, streamed. */
export async function writeContactsCsv(
  from: Reader,
  accountId: string | undefined,
  out: Writable,
  now: Date,
) {
  const csv = stringify({
    header: true,
    columns: [
      'email',
      'name',
      'phone',
      'account',
      'locale',
      'timeZone',
      'region',
      'marketingEmail',
      'emailTopicsOff',
      'pausedUntil',
      'suppressed',
      'smsConsentSince',
      'voiceConsentSince',
      'createdAt',
    ],
    ...CSV_CAST,
  });
  csv.pipe(out);
  await pump(
    contactStateRows(sql(from), accountId),
    (row) => {
      const r = row as Record<string, unknown>;
      const paused = r.paused_until && new Date(r.paused_until as string) > now;
      const off = ((r.optouts as string[] | null) ?? []).includes('email:*');
      return csv.write({
        email: r.email,
        name: r.name ?? '',
        phone: r.phone ?? '',
        account: r.account ?? '',
        locale: r.locale ?? '',
        timeZone: r.time_zone ?? '',
        region: r.region ?? '',
        marketingEmail: r.suppression ? 'suppressed' : off ? 'all_off' : paused ? 'paused' : 'subscribed',
        emailTopicsOff: r.email_off ?? '',
        pausedUntil: paused ? iso(r.paused_until) : '',
        suppressed: r.suppression ?? '',
        smsConsentSince: iso(r.sms_since),
        voiceConsentSince: iso(r.voice_since),
        createdAt: iso(r.created_at),
      });
    },
    csv,
  );
  csv.end();
}
