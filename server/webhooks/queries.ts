// The webhooks part's SQL: endpoints (each with its cursor into the feed and its lease) and the
// delivery log.
import type { Knex } from 'knex';

type Q = Knex | Knex.Transaction;

export interface EndpointRow {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Date | null;
  first_party: boolean;
  cursor_seq: number | string;
  state: 'active' | 'paused';
  paused_at: Date | null;
  attempts: number;
  failing_since: Date | null;
  next_attempt_at: Date;
  lease_until: Date | null;
  last_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  last_success_at: Date | null;
  created_by: string;
  created_at: Date;
}

export async function insertEndpoint(trx: Knex.Transaction, row: Record<string, unknown>) {
  const [inserted] = (await trx('webhook_endpoints').insert(row).returning('*')) as EndpointRow[];
  return inserted;
}

export function allEndpoints(q: Q): Promise<EndpointRow[]> {
  return q('webhook_endpoints').orderBy('created_at');
}

export function endpointRow(q: Q, id: string): Promise<EndpointRow | undefined> {
  return q('webhook_endpoints').where({ id }).first();
}

export async function updateEndpoint(q: Q, id: string, patch: Record<string, unknown>) {
  const [row] = (await q('webhook_endpoints').where({ id }).update(patch).returning('*')) as EndpointRow[];
  return row as EndpointRow | undefined;
}

export function removeEndpoint(trx: Knex.Transaction, id: string) {
  return trx('webhook_endpoints').where({ id }).del();
}

/** Leases up to `limit` active endpoints that are due and not held by another dispatcher. */
export function claimDueEndpoints(q: Knex, now: Date, leaseUntil: Date, limit: number) {
  return q('webhook_endpoints')
    .whereIn(
      'id',
      q('webhook_endpoints')
        .select('id')
        .where({ state: 'active' })
        .where('next_attempt_at', '<=', now)
        .where((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now))
        .limit(limit),
    )
    .where((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now))
    .update({ lease_until: leaseUntil })
    .returning('*') as Promise<EndpointRow[]>;
}

export function insertDeliveries(q: Q, rows: Record<string, unknown>[]) {
  return q('webhook_deliveries').insert(rows);
}

export function deliveriesOf(q: Q, endpointId: string, limit: number) {
  return q('webhook_deliveries').where({ endpoint_id: endpointId }).orderBy('id', 'desc').limit(limit);
}

export function deleteDeliveriesBefore(q: Q, before: Date) {
  return q('webhook_deliveries').where('created_at', '<', before).del();
}

/** Per endpoint, seconds since the oldest event it has not received was committed (0: caught up). */
export async function endpointLags(q: Q): Promise<{ id: string; state: string; lag: number }[]> {
  const { rows } = await q.raw(
    `select w.id, w.state,
            coalesce(extract(epoch from now() - (
              select e.occurred_at from event_feed f join events e on e.id = f.event_id
               where f.seq > w.cursor_seq order by f.seq limit 1)), 0)::float8 as lag
       from webhook_endpoints w`,
  );
  return rows.map((r: { id: string; state: string; lag: number }) => ({ ...r, lag: Number(r.lag) }));
}
