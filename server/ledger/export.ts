// The ledger and current preferences as streams, for the events API and console exports.
// Keyset pagination (id > last, 5,000 at a time) reads in ledger order with flat memory on both
// PostgreSQL and PGlite, and a consumer can resume with `after=<event id>`.
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { Knex } from 'knex';
import { drained } from '../streams.ts';

export interface EventFilter {
  since?: Date;
  until?: Date;
  after?: number;
  contactId?: string;
  /** Events of this account and of its contacts (the scope of a customer_admin). */
  accountId?: string;
}

const CHUNK = 5000;

// A cell starting with = + - @ is a formula to a spreadsheet (CSV injection): prefix a quote.
const CAST = { cast: { string: (v: string) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v) } };

export async function* eventRows(knex: Knex, f: EventFilter) {
  let last = f.after ?? 0;
  for (;;) {
    const q = knex('events as e').where('e.id', '>', last).orderBy('e.id').limit(CHUNK);
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
    const rows = await q.select(
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
    );
    for (const r of rows) yield r;
    if (rows.length < CHUNK) return;
    last = rows[rows.length - 1].id;
  }
}

export function eventJson(r: Record<string, unknown>) {
  return {
    id: Number(r.id),
    occurredAt: (r.occurred_at as Date).toISOString(),
    type: r.type,
    contactId: r.contact_id,
    accountId: r.account_id,
    channel: r.channel,
    topic: r.topic,
    oldValue: r.old_value,
    newValue: r.new_value,
    actor: r.actor,
    ip: r.ip,
    userAgent: r.user_agent,
    data: typeof r.data === 'string' ? JSON.parse(r.data) : r.data,
  };
}

const EVENT_COLUMNS = [
  'id',
  'occurredAt',
  'type',
  'contactId',
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

export async function writeEventsNdjson(knex: Knex, f: EventFilter, out: Writable) {
  await pump(
    eventRows(knex, f),
    (r) => out.write(`${JSON.stringify(eventJson(r as Record<string, unknown>))}\n`),
    out,
  );
  out.end();
}

export async function writeEventsCsv(knex: Knex, f: EventFilter, out: Writable) {
  const csv = stringify({ header: true, columns: EVENT_COLUMNS, ...CAST });
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

export async function writePreferencesCsv(knex: Knex, accountId: string | undefined, out: Writable) {
  const csv = stringify({
    header: true,
    columns: ['email', 'account', 'channel', 'topic', 'status', 'updatedAt'],
    ...CAST,
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
