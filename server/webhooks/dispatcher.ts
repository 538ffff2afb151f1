// Delivers the events feed to each webhook endpoint from the endpoint's own cursor: one event at
// a time, in feed order (so each contact's events in the order they happened), the cursor moved
// only by a 2xx. Any answer but 2xx, or none within 10 s, is retried: at once, after 5 s, after
// 30 s (three attempts within a minute), then with growing delays for at least 3 days; after
// that the endpoint pauses at its place, never skipping an event, and owners see it in the
// console until they resume it. State lives in the database, so delivery carries on across
// restarts and any number of processes: a process holds an endpoint by a short lease.

import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { consentPhone } from '../consent/service.ts';
import type { Core } from '../core.ts';
import { eventJson, feedPage } from '../ledger/export.ts';
import { claimDueEndpoints, insertDeliveries, updateEndpoint } from './queries.ts';
import { type EndpointRow, type UrlPolicy, urlProblem } from './service.ts';

/** Seconds to wait before attempt n+1 after n failures in a row. */
const DELAYS = [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 43_200];
export const RETRY_WINDOW_MS = 3 * 24 * 60 * 60 * 1000;
const TIMEOUT_MS = 10_000;
// A round ends within ROUND_MS (plus one delivery's timeout) and holds the endpoint for
// LEASE_MS: a process that dies mid-round frees its endpoints within the lease.
const LEASE_MS = 30_000;
const ROUND_MS = 15_000;
const PAGE = 100;
const POLL_MS = 200;

export function retryDelaySeconds(failures: number) {
  return DELAYS[Math.min(failures - 1, DELAYS.length - 1)];
}

export interface Dispatcher {
  /** One round over the endpoints that are due (tests drive it directly). */
  tick(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

/** Standard Webhooks signature header: the current secret, and the rolled one during its overlap. */
export function signatures(
  e: Pick<EndpointRow, 'secret' | 'previous_secret' | 'previous_secret_until'>,
  id: string,
  at: Date,
  body: string,
) {
  const sigs = [new Webhook(e.secret).sign(id, at, body)];
  if (e.previous_secret && e.previous_secret_until && e.previous_secret_until > at) {
    sigs.push(new Webhook(e.previous_secret).sign(id, at, body));
  }
  return sigs.join(' ');
}

export function createDispatcher(core: Core, logger: Logger, policy: UrlPolicy): Dispatcher {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | null = null;
  let stopped = false;
  const knex = core.db.knex;

  async function deliverEndpoint(e: EndpointRow): Promise<number> {
    let cursor = Number(e.cursor_seq);
    let delivered = 0;
    const problem = await urlProblem(e.url, policy);
    const rows = problem ? [] : await feedPage(knex, cursor, PAGE);
    let failure: { status: number | null; error: string } | null = problem
      ? { status: null, error: `refused: the URL ${problem}` }
      : null;
    const started = Date.now();
    // The round's log is written with the round's cursor (one statement, not one per event).
    const log: Record<string, unknown>[] = [];
    for (const row of rows) {
      if (stopped || Date.now() - started > ROUND_MS) break;
      const seq = Number(row.seq);
      const ev = eventJson(row);
      if (!e.events.includes('*') && !e.events.includes(String(ev.type))) {
        cursor = seq; // not subscribed: passed over, in order
        continue;
      }
      const payload: Record<string, unknown> = { ...ev };
      // Phone numbers go only to endpoints an owner marked first-party (the privacy policy).
      if (e.first_party && String(ev.type).startsWith('consent.')) {
        payload.phone = await consentPhone(knex, (ev.data as Record<string, unknown> | null)?.consentId);
      }
      const body = JSON.stringify(payload);
      const at = new Date();
      const id = String(ev.id);
      const t0 = Date.now();
      let status: number | null = null;
      let error: string | null = null;
      try {
        const res = await fetch(e.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'preference-center-webhooks/1',
            'webhook-id': id,
            'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
            'webhook-signature': signatures(e, id, at, body),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => {});
        if (status < 200 || status > 299) error = `answered ${status}`;
      } catch (err) {
        error =
          (err as Error).name === 'TimeoutError'
            ? 'no answer within 10 s'
            : `could not connect: ${(err as Error).message}`.slice(0, 300);
      }
      log.push({
        endpoint_id: e.id,
        event_id: ev.id,
        seq,
        attempt: e.attempts + 1,
        status,
        error,
        duration_ms: Date.now() - t0,
      });
      if (error) {
        failure = { status, error };
        break;
      }
      cursor = seq;
      delivered++;
      e.attempts = 0;
    }
    if (log.length) await insertDeliveries(knex, log);
    const now = new Date();
    if (failure) {
      const attempts = e.attempts + 1;
      const failingSince = e.failing_since ?? now;
      const expired = now.getTime() - failingSince.getTime() >= RETRY_WINDOW_MS;
      await updateEndpoint(knex, e.id, {
        cursor_seq: cursor,
        attempts,
        failing_since: failingSince,
        last_attempt_at: now,
        last_status: failure.status,
        last_error: failure.error,
        ...(delivered ? { last_success_at: now } : {}),
        ...(expired
          ? { state: 'paused', paused_at: now }
          : { next_attempt_at: new Date(now.getTime() + retryDelaySeconds(attempts) * 1000) }),
        lease_until: null,
      });
      if (expired) logger.warn({ webhookId: e.id }, 'webhook endpoint paused after 3 days of failures');
    } else {
      await updateEndpoint(knex, e.id, {
        cursor_seq: cursor,
        attempts: 0,
        failing_since: null,
        ...(delivered
          ? { last_attempt_at: now, last_status: 200, last_error: null, last_success_at: now }
          : {}),
        lease_until: null,
      });
    }
    return delivered;
  }

  async function round() {
    // Claim the endpoints that are due and not held by another dispatcher.
    const now = new Date();
    const due = await claimDueEndpoints(knex, now, new Date(now.getTime() + LEASE_MS), 20);
    if (!due.length) return 0;
    const counts = await Promise.all(
      due.map((e) =>
        deliverEndpoint(e).catch(async (err) => {
          logger.error({ err, webhookId: e.id }, 'webhook delivery round failed');
          await updateEndpoint(knex, e.id, { lease_until: null }).catch(() => {});
          return 0;
        }),
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  const dispatcher: Dispatcher = {
    tick() {
      running ??= round().finally(() => {
        running = null;
      });
      return running;
    },
    start() {
      stopped = false;
      const loop = async () => {
        if (stopped) return;
        let more = 0;
        try {
          more = await dispatcher.tick();
        } catch (err) {
          logger.warn({ err }, 'webhook dispatcher could not reach the database');
        }
        if (!stopped) timer = setTimeout(loop, more ? 0 : POLL_MS);
      };
      timer = setTimeout(loop, 0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
  return dispatcher;
}
