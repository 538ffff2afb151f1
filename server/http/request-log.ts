// Request ids and one access-log line per request. Lighter than pino-http on the hot path: no
// child logger per request, a counter-based id, and nothing serialised when the level is off.
// Paths are logged as redacted templates (no address, phone or link token).
import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { redactPath } from './redact.ts';

const INCOMING_ID = /^[\w.-]{1,64}$/;
const QUIET = new Set(['/healthz', '/metrics']);

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
  }
}

export function requestLog(logger: Logger) {
  // Unique across processes (random prefix) and within one (counter).
  const prefix = randomBytes(6).toString('base64url');
  let counter = 0;
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers['x-request-id'];
    const id =
      typeof incoming === 'string' && INCOMING_ID.test(incoming)
        ? incoming
        : `${prefix}-${(counter++).toString(36)}`;
    req.id = id;
    res.setHeader('X-Request-Id', id);
    if (logger.isLevelEnabled('info') && !QUIET.has(req.path)) {
      const start = process.hrtime.bigint();
      res.on('finish', () => {
        logger.info(
          {
            req: { id, method: req.method, url: redactPath(req.originalUrl) },
            res: { statusCode: res.statusCode },
            responseTime: Number(process.hrtime.bigint() - start) / 1e6,
          },
          'request completed',
        );
      });
    }
    next();
  };
}
