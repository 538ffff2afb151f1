// Validation at the edge: express-validator chains, reported as one 400 with a detail per field.
import type { NextFunction, Request, Response } from 'express';
import { body, type ValidationChain, validationResult } from 'express-validator';
import { AppError } from './errors.ts';

export function validate(chains: ValidationChain[], message = 'The request is not valid.') {
  return async (req: Request, _res: Response, next: NextFunction) => {
    try {
      for (const chain of chains) await chain.run(req);
      const result = validationResult(req);
      if (result.isEmpty()) return next();
      const seen = new Set<string>();
      const details = result
        .array()
        .map((e) => ({ field: e.type === 'field' ? e.path : undefined, message: String(e.msg) }))
        .filter((d) => {
          const k = `${d.field}:${d.message}`;
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        });
      next(new AppError('validation_failed', message, details));
    } catch (err) {
      next(err);
    }
  };
}

/** A JSON object body is required (not an array, not a string). */
export function requireObjectBody(req: Request, _res: Response, next: NextFunction) {
  if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) {
    return next(
      new AppError('validation_failed', 'Send a JSON object with Content-Type: application/json.', [
        { message: 'body must be a JSON object' },
      ]),
    );
  }
  next();
}

/** Refuses fields the route does not know, naming them and the ones it does. */
export function onlyFields(allowed: string[]) {
  return body().custom((value) => {
    const extra = Object.keys(value ?? {}).filter((k) => !allowed.includes(k));
    if (extra.length) throw new Error(`unknown field(s) ${extra.join(', ')}; allowed: ${allowed.join(', ')}`);
    return true;
  });
}
