// Every state change appends here in the same transaction as the change itself.
// Each subject has its own chain: a row stores its predecessor's hash and an HMAC over its own
// fields and that hash, so a changed, removed or inserted row breaks the chain at that point and
// forging a row needs HASH_SECRET. Appends for one subject are serialised by a row lock on the
// contact (or account), so two writers can never fork a chain.

import type { Knex } from 'knex';
import { type Cell, type Column, insertRows, isoOf } from '../bulk-insert.ts';
import { hmacSha256 } from '../hmac.ts';

export type Actor =
  | 'recipient'
  | 'system'
  | 'provider:sendgrid'
  | 'provider:sms'
  | `staff:${string}`
  | `apikey:${string}`
  | `import:${string}`;

export type EventType =
  | 'contact.created'
  | 'contact.updated'
  | 'contact.erased'
  | 'contact.merged'
  | 'preference.changed'
  | 'preference.feedback'
  | 'consent.granted'
  | 'consent.revoked'
  | 'suppression.added'
  | 'suppression.removed'
  | 'account.created'
  | 'account.updated'
  | 'agreement.changed'
  | 'topic.created'
  | 'topic.updated'
  | 'apikey.created'
  | 'apikey.revoked'
  | 'staff.created'
  | 'staff.invited'
  | 'staff.joined'
  | 'staff.password_reset'
  | 'staff.disabled'
  | 'staff.enabled'
  | 'staff.role_changed'
  | 'webhook.created'
  | 'webhook.updated'
  | 'webhook.deleted'
  | 'brand.updated'
  | 'data_request.created'
  | 'data_request.confirmed'
  | 'data_request.decided';

/** Who did it and from where; IP and user agent are kept as evidence where known. */
export interface Origin {
  actor: Actor;
  ip?: string | null;
  userAgent?: string | null;
}

type Scalar = string | number | boolean | null;

export interface EventInput {
  type: EventType;
  contactId?: string | null;
  accountId?: string | null;
  channel?: 'email' | 'sms' | 'voice' | null;
  topic?: string | null;
  oldValue?: string | null;
  newValue?: string | null;
  /** Ids, codes and keyed hashes only: never names, addresses, numbers or typed text. */
  data?: Record<string, Scalar | Scalar[]>;
}

export interface EventRow {
  id: number;
  occurred_at: Date;
  chain: string;
  contact_id: string | null;
  account_id: string | null;
  type: string;
  channel: string | null;
  topic: string | null;
  old_value: string | null;
  new_value: string | null;
  data: Record<string, unknown>;
  actor: string;
  ip: string | null;
  user_agent: string | null;
  prev_hash: string | null;
  hash: string;
}

/** Every column of an event row, in the order appendMany writes them. */
const EVENT_COLUMNS: Column[] = [
  { name: 'id', type: 'bigint' },
  { name: 'occurred_at', type: 'timestamptz' },
  { name: 'chain', type: 'text' },
  { name: 'contact_id', type: 'uuid' },
  { name: 'account_id', type: 'uuid' },
  { name: 'type', type: 'text' },
  { name: 'channel', type: 'text' },
  { name: 'topic', type: 'text' },
  { name: 'old_value', type: 'text' },
  { name: 'new_value', type: 'text' },
  { name: 'data', type: 'jsonb' },
  { name: 'actor', type: 'text' },
  { name: 'ip', type: 'text' },
  { name: 'user_agent', type: 'text' },
  { name: 'prev_hash', type: 'text' },
  { name: 'hash', type: 'text' },
];

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, stable((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * True when `stable` would hand back what it was given, to the byte once serialised: keys
 * already in sorted order and every value a scalar or a list of scalars (what EventInput's
 * data holds). The import's events are all of this shape; rebuilding each one was a third of
 * a row's hashing. Anything else (nested objects, keys out of order, as jsonb hands them back
 * to `verify`) takes the long way.
 */
function alreadyStable(data: Record<string, unknown>): boolean {
  let previous: string | null = null;
  for (const key of Object.keys(data)) {
    if (previous !== null && !(previous < key)) return false;
    previous = key;
    const v = data[key];
    if (v !== null && typeof v === 'object') {
      if (!Array.isArray(v)) return false;
      for (const x of v) if (x !== null && typeof x === 'object') return false;
    }
  }
  return true;
}

export function rowHash(secret: Buffer, row: Omit<EventRow, 'hash'>): string {
  const data = row.data ?? {};
  const fields = [
    row.id,
    isoOf(row.occurred_at),
    row.chain,
    row.contact_id,
    row.account_id,
    row.type,
    row.channel,
    row.topic,
    row.old_value,
    row.new_value,
    alreadyStable(data) ? data : stable(data),
    row.actor,
    row.ip,
    row.user_agent,
    row.prev_hash,
  ];
  // the prefix and the fields as two updates: the same bytes, without a joined copy of the text
  return hmacSha256(secret).update('ledger:v1:').update(JSON.stringify(fields)).digest('hex');
}

export function chainOf(input: Pick<EventInput, 'contactId' | 'accountId'>): string {
  if (input.contactId) return `contact:${input.contactId}`;
  if (input.accountId) return `account:${input.accountId}`;
  return 'system';
}

/**
 * A chain's last event's hash, or null for a new chain. A contact's chain is found through
 * events_contact ((contact_id, id)); events_chain holds only the events of no contact (account
 * chains and the system chain), so the other lookups name `contact_id is null` for the planner.
 */
async function chainHead(
  trx: Knex.Transaction,
  contactId: string | null,
  chain: string,
): Promise<{ hash: string } | undefined> {
  const q = trx('events').where({ chain });
  if (contactId) q.where({ contact_id: contactId });
  else q.whereNull('contact_id');
  return q.orderBy('id', 'desc').first('hash');
}

const MAX_UA = 500;

/** An event row with its place in its chain and its hash. */
function sealed(
  secret: Buffer,
  origin: Origin,
  input: EventInput,
  id: number,
  occurredAt: Date,
  prevHash: string | null,
): EventRow {
  const row: EventRow = {
    id,
    occurred_at: occurredAt,
    chain: chainOf(input),
    contact_id: input.contactId ?? null,
    account_id: input.accountId ?? null,
    type: input.type,
    channel: input.channel ?? null,
    topic: input.topic ?? null,
    old_value: input.oldValue ?? null,
    new_value: input.newValue ?? null,
    data: input.data ?? {},
    actor: origin.actor,
    ip: origin.ip ?? null,
    user_agent: origin.userAgent ? origin.userAgent.slice(0, MAX_UA) : null,
    prev_hash: prevHash,
    hash: '',
  };
  row.hash = rowHash(secret, row);
  return row;
}

export interface Ledger {
  append(trx: Knex.Transaction, origin: Origin, input: EventInput): Promise<EventRow>;
  /**
   * Many events in one statement (a bulk import; COPY on pg), chained exactly as one append each would
   * chain them, in the order given. The caller holds the row lock of every contact named (or
   * created them in this transaction): this does not lock. Contact chains only. `createdHere`
   * names contacts inserted in this same transaction: their chains begin here, so their heads
   * are not looked up (a probe of events_contact a contact, the import's one per new row).
   */
  appendMany(
    trx: Knex.Transaction,
    origin: Origin,
    inputs: EventInput[],
    createdHere?: ReadonlySet<string>,
  ): Promise<number>;
  verify(knex: Knex, onProgress?: (checked: number) => void): Promise<VerifyResult>;
}

export type VerifyResult =
  | { ok: true; events: number; chains: number }
  | { ok: false; events: number; brokenAt: { id: number; chain: string; problem: string } };

export function createLedger(secret: Buffer): Ledger {
  return {
    async append(trx, origin, input) {
      if (!trx.isTransaction) throw new Error('ledger append must run inside the transaction of the change');
      const chain = chainOf(input);
      if (input.contactId) {
        await trx.raw('select id from contacts where id = ? for update', [input.contactId]);
      } else if (input.accountId) {
        await trx.raw('select id from accounts where id = ? for update', [input.accountId]);
      } else {
        await trx.raw("select pg_advisory_xact_lock(hashtext('ledger:system'))");
      }
      const prev = await chainHead(trx, input.contactId ?? null, chain);
      const {
        rows: [{ id }],
      } = await trx.raw("select nextval('events_id_seq') as id");
      const full = sealed(secret, origin, input, Number(id), new Date(), prev?.hash ?? null);
      await trx('events').insert({ ...full, data: JSON.stringify(full.data) });
      return full;
    },

    async appendMany(trx, origin, inputs, createdHere) {
      if (!trx.isTransaction) throw new Error('ledger append must run inside the transaction of the change');
      if (!inputs.length) return 0;
      if (inputs.some((i) => !i.contactId)) throw new Error('appendMany writes contact chains only');
      const older = [
        ...new Set(inputs.map((i) => i.contactId as string).filter((id) => !createdHere?.has(id))),
      ];
      // each older chain's last hash: one probe of events_contact ((contact_id, id)) a contact
      const { rows: heads } = older.length
        ? await trx.raw(
            `select 'contact:' || c.id as chain,
                    (select e.hash from events e
                      where e.contact_id = c.id::uuid and e.chain = 'contact:' || c.id
                      order by e.id desc limit 1) as hash
               from json_array_elements_text(?::json) as c(id)`,
            [JSON.stringify(older)],
          )
        : { rows: [] };
      const last = new Map<string, string | null>(
        (heads as { chain: string; hash: string | null }[]).map((h) => [h.chain, h.hash]),
      );
      const { rows: idRows } = await trx.raw(
        "select nextval('events_id_seq') as id from generate_series(1, ?::int)",
        [inputs.length],
      );
      const ids = (idRows as { id: string | number }[]).map((r) => Number(r.id)).sort((a, b) => a - b);
      const occurredAt = new Date();
      // Each event is sealed as its line is written, in order: a batch's thousands of rows are
      // never all held at once (held across the COPY's round trips, they outlived the young
      // generation and filled the old one, whose collections were the import's largest cost).
      function* sealedRows() {
        for (let i = 0; i < inputs.length; i++) {
          const chain = chainOf(inputs[i]);
          const row = sealed(secret, origin, inputs[i], ids[i], occurredAt, last.get(chain) ?? null);
          last.set(chain, row.hash);
          yield EVENT_COLUMNS.map((c) => row[c.name as keyof EventRow] as Cell);
        }
      }
      await insertRows(trx, 'events', EVENT_COLUMNS, sealedRows());
      return inputs.length;
    },

    async verify(knex, onProgress) {
      const last = new Map<string, string>();
      let events = 0;
      let after = 0;
      for (;;) {
        const rows: EventRow[] = await knex('events').where('id', '>', after).orderBy('id').limit(5000);
        if (rows.length === 0) break;
        for (const row of rows) {
          const expectedPrev = last.get(row.chain) ?? null;
          if (row.prev_hash !== expectedPrev) {
            return {
              ok: false,
              events,
              brokenAt: {
                id: row.id,
                chain: row.chain,
                problem:
                  expectedPrev === null
                    ? 'first event of its chain points at a predecessor that does not exist'
                    : 'does not point at the previous event of its chain (a row was removed, inserted or reordered)',
              },
            };
          }
          const { hash, ...rest } = row;
          if (rowHash(secret, rest) !== hash) {
            return {
              ok: false,
              events,
              brokenAt: {
                id: row.id,
                chain: row.chain,
                problem: 'its content does not match its hash (the row was altered)',
              },
            };
          }
          last.set(row.chain, hash);
          events++;
        }
        after = rows[rows.length - 1].id;
        onProgress?.(events);
      }
      return { ok: true, events, chains: last.size };
    },
  };
}
