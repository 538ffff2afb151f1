import { timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import type { AppContext } from '../app.ts';
import { DomainError } from '../errors.ts';

function sameSecret(a: string, b: string) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function healthRoutes(ctx: AppContext) {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    try {
      await ctx.db.ping(2000);
      res.json({ status: 'ready', database: 'ok' });
    } catch {
      res.status(503).json({ error: { code: 'unavailable', message: 'The database does not answer.' } });
    }
  });
  r.get('/metrics', async (req, res, next) => {
    if (ctx.config.metricsToken) {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (!m || !sameSecret(m[1], ctx.config.metricsToken)) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        return next(new DomainError('unauthorized', 'Metrics need the METRICS_TOKEN as a bearer token.'));
      }
    }
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  return r;
}
