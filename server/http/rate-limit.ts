// Rate limits for public pages and sign-in, with the settings every limit here shares:
// standard RateLimit headers, no legacy X-RateLimit ones, in-process memory (one process).
import type { NextFunction, Request, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';

export const byIp = (req: Request) => ipKeyGenerator(req.ip ?? '');

export function limiter(opts: {
  windowMs: number;
  limit: number;
  key: (req: Request) => string;
  onLimit: (req: Request, res: Response, next: NextFunction) => void;
  skip?: (req: Request) => boolean;
}) {
  return rateLimit({
    windowMs: opts.windowMs,
    limit: opts.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: opts.key,
    handler: opts.onLimit,
    ...(opts.skip ? { skip: opts.skip } : {}),
  });
}
