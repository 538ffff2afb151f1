import type { NextFunction, Request, Response } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { redactPath } from './redact.ts';

export interface Metrics {
  registry: Registry;
  middleware(req: Request, res: Response, next: NextFunction): void;
  decisions: Counter<'channel' | 'reason'>;
  /** Opt-outs that reached us but could not be applied at once (answered 503, or spooled). */
  optOutsDeferred: Counter<'path'>;
  /** Recipient page saves the database did not finish within budget (answered "unconfirmed"). */
  pageSavesUnconfirmed: Counter;
  /** Inbound opt-outs waiting in the local spool for the database to come back. */
  spoolDepth: Gauge;
}

/** Label a request by its route template; unmatched paths share one label so labels stay bounded. */
function routeLabel(req: Request): string {
  const route = (req as Request & { route?: { path?: string } }).route?.path;
  if (typeof route === 'string') return `${req.baseUrl}${route}`;
  return req.res?.statusCode === 404 ? 'unmatched' : redactPath(req.baseUrl || 'unmatched');
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'send_permission_decisions_total',
    help: 'Send-permission decisions by channel and reason',
    labelNames: ['channel', 'reason'] as const,
    registers: [registry],
  });
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
  const children = new Map<
    string,
    { requests: ReturnType<typeof requests.labels>; latency: ReturnType<typeof latency.labels> }
  >();
  return {
    registry,
    decisions,
    optOutsDeferred,
    pageSavesUnconfirmed,
    spoolDepth,
    middleware(req, res, next) {
      const start = process.hrtime.bigint();
      res.on('finish', () => {
        const route = routeLabel(req);
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        // prom-client hashes a label object on every call; the bound children are cached by a
        // plain string key instead (labels are bounded: route templates, methods, statuses).
        const key = `${req.method} ${route} ${res.statusCode}`;
        let bound = children.get(key);
        if (!bound) {
          bound = {
            requests: requests.labels({ method: req.method, route, status: String(res.statusCode) }),
            latency: latency.labels({ method: req.method, route }),
          };
          children.set(key, bound);
        }
        bound.requests.inc();
        bound.latency.observe(seconds);
      });
      next();
    },
  };
}
