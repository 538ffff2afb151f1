// Validation at the edge: express-validator chains, reported as one 400 with a detail per field.
import type { NextFunction, Request, Response } from 'express';
import { body, type ValidationChain, validationResult } from 'express-validator';
import { DomainError } from '../errors.ts';

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
      next(new DomainError('validation_failed', message, details));
    } catch (err) {
      next(err);
    }
  };
}

/** A JSON object body is required (not an array, not a string). */
export function requireObjectBody(req: Request, _res: Response, next: NextFunction) {
  if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) {
    return next(
      new DomainError('validation_failed', 'Send a JSON object with Content-Type: application/json.', [
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

// Dates a person could mean: from 1900 up to (not including) 2200. Outside that a typo is far
// likelier than a wish, and the database refuses some such values with an error, not a 400.
const EARLIEST = Date.UTC(1900, 0, 1);
const LATEST = Date.UTC(2200, 0, 1);
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** An ISO 8601 date or date-time within 1900-2199, as a Date; null for anything else. */
export function parseInstant(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const m = ISO_8601.exec(value.trim());
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // "2026-02-30" is not a day: the calendar must agree with what was written.
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return null;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59)) return null;
  const t = Date.parse(value.trim().replace(' ', 'T'));
  if (!Number.isFinite(t) || t < EARLIEST || t >= LATEST) return null;
  return new Date(t);
}

export const INSTANT_MESSAGE =
  'an ISO 8601 date or time between 1900 and 2199, e.g. 2026-03-01 or 2026-03-01T12:00:00Z';

/** Whole numbers a column of type integer can hold, from `min`. */
export const MAX_INT = 2_147_483_647;
export function parseWhole(value: unknown, min = 1, max = MAX_INT): number | null {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d{1,10}$/.test(value)
        ? Number(value)
        : Number.NaN;
  return Number.isInteger(n) && n >= min && n <= max ? n : null;
}
