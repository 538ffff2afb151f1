// Rate limits for public pages, with the settings every limit here shares: standard RateLimit
// headers, no legacy X-RateLimit ones. A limit that must hold across processes (SPEC: "email me
// my link", 3 per address per hour and 10 per IP per 15 minutes, across all processes) keeps
// its counters in PostgreSQL (PGlite too) through `sharedStore`; the generous per-IP page limit
// stays in each process's memory, where a page view costs no database write.

import type { NextFunction, Request, Response } from 'express';
import { ipKeyGenerator, type Options, rateLimit, type Store } from 'express-rate-limit';
import { type Reader, sql } from '../core.ts';

/**
 * express-rate-limit's store over the app's database: one upsert per hit, a fixed window per
 * key. (@acpr/rate-limit-postgresql brings its own pool and an older pg, and cannot run on PGlite.)
 */
export function sharedStore(from: Reader, name: string): Store {
  const knex = sql(from);
  let windowMs = 60_000;
  return {
    prefix: `${name}:`,
    localKeys: false,
    init(options: Options) {
      windowMs = options.windowMs;
    },
    async increment(key) {
      const { rows } = await knex.raw(
        `insert into rate_limits (key, hits, reset_at) values (?, 1, now() + ? * interval '1 millisecond')
         on conflict (key) do update set
           hits = case when rate_limits.reset_at <= now() then 1 else rate_limits.hits + 1 end,
           reset_at = case when rate_limits.reset_at <= now() then excluded.reset_at else rate_limits.reset_at end
         returning hits, reset_at`,
        [`${name}:${key}`, windowMs],
      );
      return { totalHits: Number(rows[0].hits), resetTime: new Date(rows[0].reset_at) };
    },
    async decrement(key) {
      await knex('rate_limits')
        .where({ key: `${name}:${key}` })
        .decrement('hits', 1);
    },
    async resetKey(key) {
      await knex('rate_limits')
        .where({ key: `${name}:${key}` })
        .del();
    },
  };
}

export const byIp = (req: Request) => ipKeyGenerator(req.ip ?? '');

export function limiter(opts: {
  windowMs: number;
  limit: number;
  key: (req: Request) => string;
  onLimit: (req: Request, res: Response, next: NextFunction) => void;
  skip?: (req: Request) => boolean;
  /** Shared across processes (PostgreSQL); default: this process's memory. */
  store?: Store;
}) {
  return rateLimit({
    windowMs: opts.windowMs,
    limit: opts.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: opts.key,
    handler: opts.onLimit,
    ...(opts.skip ? { skip: opts.skip } : {}),
    ...(opts.store ? { store: opts.store } : {}),
  });
}
