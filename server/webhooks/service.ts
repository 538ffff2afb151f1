// Outbound webhook endpoints (SPEC "Outbound webhooks"): the operator's own systems receive every
// ledger event they subscribe to, signed the Standard Webhooks way, in feed order, at least once.
// Endpoint changes are on the ledger (system chain). Delivery itself is dispatcher.ts.

import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import type { Knex } from 'knex';
import { type Core, type Reader, sql } from '../core.ts';
import { DomainError } from '../errors.ts';
import { decodeCursor, feedHead } from '../ledger/export.ts';
import type { Origin } from '../ledger/ledger.ts';
import {
  allEndpoints,
  deleteDeliveriesBefore,
  deliveriesOf,
  type EndpointRow,
  endpointLags,
  endpointRow,
  insertEndpoint,
  removeEndpoint,
  updateEndpoint,
} from './queries.ts';

export const EVENT_TYPES = [
  'contact.created',
  'contact.updated',
  'contact.erased',
  'contact.merged',
  'preference.changed',
  'preference.feedback',
  'consent.granted',
  'consent.revoked',
  'suppression.added',
  'suppression.removed',
  'account.created',
  'account.updated',
  'agreement.changed',
] as const;

/** How long a rolled secret still signs beside the new one. */
export const SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

export type { EndpointRow };

/** `whsec_` + base64 of 32 random bytes (the Standard Webhooks form; the bytes are the key). */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

// Ranges a webhook must not reach in production: the service's own host and network, cloud
// metadata (169.254.169.254 is link-local), and anything not globally routed.
const FORBIDDEN = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal',
  'loopback',
  'private',
  'uniqueLocal',
  'carrierGradeNat',
  'reserved',
  'ipv4Mapped',
  'rfc6145',
  'rfc6052',
  '6to4',
  'teredo',
  'benchmarking',
  'amt',
  'as112',
  'as112v6',
  'deprecated',
  'orchid2',
  'droneRemoteIdProtocolEntityTags',
]);

export interface UrlPolicy {
  production: boolean;
  allowPrivate: boolean;
}

/**
 * Why a URL may not receive webhooks, or null. In production: https only, and the host must not
 * resolve to a loopback, private, link-local (metadata) or otherwise non-public address, unless
 * WEBHOOK_ALLOW_PRIVATE_URLS=true. Checked when an endpoint is added and before each delivery
 * round (a name may resolve elsewhere later).
 */
export async function urlProblem(raw: string, policy: UrlPolicy): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.username || url.password) return 'must not carry a user name or password';
  if (!policy.production) return null;
  if (url.protocol !== 'https:') return 'must be https in production';
  if (policy.allowPrivate) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = ipaddr.isValid(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return `the host "${host}" does not resolve`;
  }
  for (const a of addresses) {
    const range = ipaddr.parse(a).range();
    if (FORBIDDEN.has(range)) {
      return `resolves to ${a} (${range}), which webhooks may not reach; set WEBHOOK_ALLOW_PRIVATE_URLS=true to allow it`;
    }
  }
  return null;
}

function checkEvents(events: unknown): string[] {
  if (!Array.isArray(events) || events.length === 0 || events.length > 50) {
    throw new DomainError('validation_failed', 'Give the event types to receive, or ["*"] for all.', [
      { field: 'events', message: `a list of event types (${EVENT_TYPES.join(', ')}) or ["*"]` },
    ]);
  }
  const bad = events.filter((e) => e !== '*' && !(EVENT_TYPES as readonly unknown[]).includes(e));
  if (bad.length) {
    throw new DomainError('validation_failed', `Unknown event types: ${bad.map(String).join(', ')}.`, [
      { field: 'events', message: `each one of ${EVENT_TYPES.join(', ')}, or "*"` },
    ]);
  }
  return [...new Set(events as string[])];
}

export function endpointJson(e: EndpointRow, opts: { secret?: boolean } = {}) {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    events: e.events,
    state: e.state,
    firstParty: e.first_party,
    cursor: `f1.${e.cursor_seq}`,
    failingSince: e.failing_since?.toISOString() ?? null,
    attempts: e.attempts,
    nextAttemptAt: e.state === 'active' && e.attempts ? e.next_attempt_at.toISOString() : null,
    lastDelivery: e.last_attempt_at
      ? { at: e.last_attempt_at.toISOString(), status: e.last_status, error: e.last_error }
      : null,
    lastSuccessAt: e.last_success_at?.toISOString() ?? null,
    createdAt: e.created_at.toISOString(),
    ...(opts.secret ? { secret: e.secret } : {}),
  };
}

function audit(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  type: 'webhook.created' | 'webhook.updated' | 'webhook.deleted',
  data: Record<string, string | boolean>,
) {
  return core.ledger.append(trx, origin, { type, data });
}

export async function createEndpoint(
  core: Core,
  origin: Origin,
  input: { url: unknown; events: unknown; description?: unknown },
  policy: UrlPolicy,
) {
  if (typeof input.url !== 'string' || input.url.length > 2000) {
    throw new DomainError('validation_failed', 'Give the https URL that receives the events.', [
      { field: 'url', message: 'an https URL of at most 2,000 characters' },
    ]);
  }
  const problem = await urlProblem(input.url, policy);
  if (problem)
    throw new DomainError('validation_failed', `The URL ${problem}.`, [{ field: 'url', message: problem }]);
  const events = checkEvents(input.events);
  if (
    input.description !== undefined &&
    input.description !== null &&
    (typeof input.description !== 'string' || input.description.length > 500)
  ) {
    throw new DomainError('validation_failed', 'The description is at most 500 characters.', [
      { field: 'description', message: 'a string of at most 500 characters' },
    ]);
  }
  return core.db.knex.transaction(async (trx) => {
    // A new endpoint receives the events committed after it was created.
    const row = await insertEndpoint(trx, {
      url: input.url,
      description: (input.description as string | undefined) ?? null,
      events,
      secret: newSecret(),
      cursor_seq: await feedHead(trx as unknown as Knex),
      created_by: origin.actor,
    });
    await audit(core, trx, origin, 'webhook.created', { webhookId: row.id });
    return row;
  });
}

export function listEndpoints(from: Reader): Promise<EndpointRow[]> {
  return allEndpoints(sql(from));
}

export async function endpointById(from: Reader, id: string): Promise<EndpointRow> {
  const row = /^[0-9a-f-]{36}$/i.test(id) ? await endpointRow(sql(from), id) : undefined;
  if (!row) throw new DomainError('not_found', 'No webhook endpoint with this id.');
  return row;
}

async function change(core: Core, origin: Origin, id: string, patch: Record<string, unknown>, what: string) {
  return core.db.knex.transaction(async (trx) => {
    const row = await updateEndpoint(trx, id, patch);
    if (!row) throw new DomainError('not_found', 'No webhook endpoint with this id.');
    await audit(core, trx, origin, 'webhook.updated', { webhookId: id, change: what });
    return row;
  });
}

export async function deleteEndpoint(core: Core, origin: Origin, id: string) {
  await endpointById(core.db.knex, id);
  await core.db.knex.transaction(async (trx) => {
    await removeEndpoint(trx, id);
    await audit(core, trx, origin, 'webhook.deleted', { webhookId: id });
  });
}

/** Re-delivers from a point of the feed: every event after `after` (a cursor) again. */
export function replayEndpoint(core: Core, origin: Origin, id: string, after: unknown) {
  const seq = typeof after === 'string' ? decodeCursor(after) : null;
  if (seq === null) {
    throw new DomainError(
      'validation_failed',
      'Give {"after": "<cursor>"}: the cursor of the last event to keep.',
      [{ field: 'after', message: 'the `cursor` of an event' }],
    );
  }
  return change(
    core,
    origin,
    id,
    {
      cursor_seq: seq,
      state: 'active',
      paused_at: null,
      attempts: 0,
      failing_since: null,
      next_attempt_at: new Date(),
    },
    'replay',
  );
}

/** A paused endpoint carries on from where it stopped (nothing was skipped). */
export function resumeEndpoint(core: Core, origin: Origin, id: string) {
  return change(
    core,
    origin,
    id,
    { state: 'active', paused_at: null, attempts: 0, failing_since: null, next_attempt_at: new Date() },
    'resume',
  );
}

/** A new secret; the old one keeps signing beside it for 24 h so receivers can switch. */
export async function rollSecret(core: Core, origin: Origin, id: string) {
  const current = await endpointById(core.db.knex, id);
  return change(
    core,
    origin,
    id,
    {
      secret: newSecret(),
      previous_secret: current.secret,
      previous_secret_until: new Date(Date.now() + SECRET_OVERLAP_MS),
    },
    'secret',
  );
}

/** Owners only, in the console: consent events to this endpoint carry the phone number. */
export function setFirstParty(core: Core, origin: Origin, id: string, firstParty: boolean) {
  return change(
    core,
    origin,
    id,
    { first_party: firstParty },
    firstParty ? 'first_party_on' : 'first_party_off',
  );
}

export function recentDeliveries(from: Reader, endpointId: string, limit = 50) {
  return deliveriesOf(sql(from), endpointId, limit);
}

/** Per endpoint, seconds since the oldest undelivered event was committed (0 when caught up). */
export async function webhookLag(from: Reader): Promise<{ id: string; state: string; lag: number }[]> {
  return endpointLags(sql(from));
}

/** The delivery log keeps a week. */
export async function pruneDeliveries(knex: Knex, now: Date) {
  await deleteDeliveriesBefore(knex, new Date(now.getTime() - 7 * 24 * 3600_000));
}

/** One endpoint as GET /api/v1/webhooks/{id} shows it: its state and its newest deliveries. */
export async function endpointWithDeliveries(from: Reader, id: string) {
  const e = await endpointById(from, id);
  const deliveries = await recentDeliveries(from, e.id);
  return {
    ...endpointJson(e),
    deliveries: deliveries.map((d) => ({
      eventId: Number(d.event_id),
      attempt: d.attempt,
      status: d.status,
      error: d.error,
      durationMs: d.duration_ms,
      at: (d.created_at as Date).toISOString(),
    })),
  };
}
