import type { NextFunction, Request, Response } from 'express';
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import { redactPath } from './redact.ts';

export interface Metrics {
  registry: Registry;
  middleware(req: Request, res: Response, next: NextFunction): void;
  /** Send-permission decisions by channel and reason (tallied; counted in prom-client when read). */
  decisions: { inc(labels: { channel: string; reason: string }, n?: number): void };
  /** Opt-outs that reached us but could not be applied at once (answered 503, or spooled). */
  optOutsDeferred: Counter<'path'>;
  /** Recipient page saves the database did not finish within budget (answered "unconfirmed"). */
  pageSavesUnconfirmed: Counter;
  /** Inbound opt-outs waiting in the local spool for the database to come back. */
  spoolDepth: Gauge;
}

// A matched route's label, kept per route and mount point: the same string every time, so the
// tally's Map finds it by a hash V8 has already computed (a label built per request is a new
// string to flatten and hash on every lookup: 1.6 % of a check's profile).
const labels = new WeakMap<object, Map<string, string>>();

/** Label a request by its route template; unmatched paths share one label so labels stay bounded. */
function routeLabel(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  if (route && typeof route.path === 'string') {
    let byBase = labels.get(route);
    if (!byBase) {
      byBase = new Map();
      labels.set(route, byBase);
    }
    let label = byBase.get(req.baseUrl);
    if (label === undefined) {
      label = `${req.baseUrl}${route.path}`;
      byBase.set(req.baseUrl, label);
    }
    return label;
  }
  return req.res?.statusCode === 404 ? 'unmatched' : redactPath(req.baseUrl || 'unmatched');
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

interface StatusSeries {
  /** Requests answered with this status. */
  requests: number;
  /** Of them, already handed to the prom-client counter. */
  reported: number;
}
interface RouteSeries {
  method: string;
  route: string;
  statuses: Map<number, StatusSeries>;
  /** Latency per bucket, not cumulative; the last slot is above the largest bound (their total is the count). */
  counts: Float64Array;
  sum: number;
}

/**
 * Request counts and latencies, tallied per request in plain numbers and handed to prom-client
 * only when /metrics is read. prom-client's own `inc` and `observe` build and hash a label object
 * on every call, even on a bound child: measured at 4-7 % of a check's server CPU
 * (`PAGE=check npm run bench:profile-page`), for numbers read every 15 s or so. Series are
 * found by route, then method, then status (no key string is built per request).
 */
export class RequestTally {
  private readonly series = new Map<string, Map<string, RouteSeries>>();

  record(method: string, route: string, status: number, seconds: number) {
    let byMethod = this.series.get(route);
    if (!byMethod) {
      byMethod = new Map();
      this.series.set(route, byMethod);
    }
    let r = byMethod.get(method);
    if (!r) {
      r = {
        method,
        route,
        statuses: new Map(),
        counts: new Float64Array(LATENCY_BUCKETS.length + 1),
        sum: 0,
      };
      byMethod.set(method, r);
    }
    let st = r.statuses.get(status);
    if (!st) {
      st = { requests: 0, reported: 0 };
      r.statuses.set(status, st);
    }
    st.requests++;
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]) b++;
    r.counts[b]++;
    r.sum += seconds;
  }

  private *all() {
    for (const byMethod of this.series.values()) yield* byMethod.values();
  }

  /** Moves what was counted since the last read into a prom-client counter (its `collect`). */
  flushRequests(counter: Counter<'method' | 'route' | 'status'>) {
    for (const r of this.all()) {
      for (const [status, st] of r.statuses) {
        if (st.requests === st.reported) continue;
        counter.inc({ method: r.method, route: r.route, status: String(status) }, st.requests - st.reported);
        st.reported = st.requests;
      }
    }
  }

  /** The latency histogram as prom-client's registry reads a histogram (cumulative buckets, +Inf, sum, count). */
  latencyValues(name: string) {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const l of this.all()) {
      let acc = 0;
      for (let b = 0; b <= LATENCY_BUCKETS.length; b++) {
        acc += l.counts[b];
        const le = b < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[b] : '+Inf';
        values.push({
          metricName: `${name}_bucket`,
          labels: { le, method: l.method, route: l.route },
          value: acc,
        });
      }
      values.push({ metricName: `${name}_sum`, labels: { method: l.method, route: l.route }, value: l.sum });
      values.push({
        metricName: `${name}_count`,
        labels: { method: l.method, route: l.route },
        value: acc, // the +Inf bucket: every request
      });
    }
    return values;
  }
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const tally = new RequestTally();
  new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      tally.flushRequests(this);
    },
  });
  // A histogram in the registry's own terms: a metric is anything with a name, help, type and a
  // get() that returns its samples (what prom-client's Histogram returns; checked by a test
  // against the exposition text).
  const latencyName = 'http_request_duration_seconds';
  const latencyHelp = 'HTTP request latency by method and route template';
  const latency = {
    name: latencyName,
    help: latencyHelp,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => ({
      name: latencyName,
      help: latencyHelp,
      type: 'histogram',
      aggregator: 'sum',
      values: tally.latencyValues(latencyName),
    }),
  };
  registry.registerMetric(latency as unknown as Metric);
  // Decisions are tallied the same way as requests: a check counts one in two Map lookups, and
  // prom-client's counter is brought up to date when /metrics is read.
  const pendingDecisions = new Map<string, Map<string, number>>();
  new Counter({
    name: 'send_permission_decisions_total',
    help: 'Send-permission decisions by channel and reason',
    labelNames: ['channel', 'reason'] as const,
    registers: [registry],
    collect() {
      for (const [channel, byReason] of pendingDecisions) {
        for (const [reason, n] of byReason) this.inc({ channel, reason }, n);
        byReason.clear();
      }
    },
  });
  const decisions: Metrics['decisions'] = {
    inc({ channel, reason }, n = 1) {
      let byReason = pendingDecisions.get(channel);
      if (!byReason) {
        byReason = new Map();
        pendingDecisions.set(channel, byReason);
      }
      byReason.set(reason, (byReason.get(reason) ?? 0) + n);
    },
  };
  const optOutsDeferred = new Counter({
    name: 'opt_outs_deferred_total',
    help: 'Opt-outs received but not applied at once: answered 503 for a provider retry, or spooled',
    labelNames: ['path'] as const,
    registers: [registry],
  });
  const pageSavesUnconfirmed = new Counter({
    name: 'page_saves_unconfirmed_total',
    help: 'Recipient page saves not finished within WEBHOOK_DB_BUDGET_MS: the person was asked to send again',
    registers: [registry],
  });
  const spoolDepth = new Gauge({
    name: 'opt_out_spool_depth',
    help: 'Inbound opt-outs kept in the local spool, waiting for the database',
    registers: [registry],
  });
  return {
    registry,
    decisions,
    optOutsDeferred,
    pageSavesUnconfirmed,
    spoolDepth,
    middleware(req, res, next) {
      const start = performance.now();
      res.on('finish', () => {
        tally.record(req.method, routeLabel(req), res.statusCode, (performance.now() - start) / 1000);
      });
      next();
    },
  };
}
