// A body that is not JSON where JSON is expected is a 415 and changes nothing (SPEC "Input
// hygiene"). express.json() leaves such a body unread, and a route would then see no fields at
// all: a targeted unsubscribe sent as text/plain read as "no topic", i.e. all marketing.
import type { NextFunction, Request, Response } from 'express';
import { AppError } from './errors.ts';

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

export function jsonBodiesOnly(req: Request, _res: Response, next: NextFunction) {
  if (req.method !== 'GET' && req.method !== 'HEAD' && hasBody(req) && !req.is('json')) {
    return next(
      new AppError(
        'unsupported_media_type',
        `This endpoint takes JSON: send the body with "Content-Type: application/json" (got "${String(
          req.headers['content-type'] ?? 'none',
        ).slice(0, 100)}").`,
      ),
    );
  }
  next();
}
