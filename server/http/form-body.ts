// Form bodies for the public pages: application/x-www-form-urlencoded (express) and
// multipart/form-data (busboy; RFC 8058 lets mail clients send either). Small limits, no files:
// these forms carry a handful of short fields.
import busboy from 'busboy';
import express, { type NextFunction, type Request, type Response } from 'express';
import { DomainError } from '../errors.ts';

const LIMITS = { fields: 1000, fieldSize: 4096, files: 0, parts: 1000 };
const urlencoded = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 1000 });

function multipart(req: Request, _res: Response, next: NextFunction) {
  const fields: Record<string, string | string[]> = {};
  let failed = false;
  const fail = (message: string) => {
    if (failed) return;
    failed = true;
    req.unpipe(bb);
    req.resume();
    next(new DomainError('validation_failed', message));
  };
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers: req.headers, limits: LIMITS });
  } catch {
    return next(
      new DomainError('validation_failed', 'The form could not be read (multipart boundary missing).'),
    );
  }
  bb.on('field', (name, value, info) => {
    if (info.valueTruncated) return fail(`The form field "${name}" is too long.`);
    const prev = fields[name];
    fields[name] = prev === undefined ? value : ([] as string[]).concat(prev, value);
  });
  bb.on('file', (_name, stream) => stream.resume());
  bb.on('filesLimit', () => fail('This form takes no files.'));
  bb.on('fieldsLimit', () => fail('The form has too many fields.'));
  bb.on('partsLimit', () => fail('The form has too many parts.'));
  bb.on('error', () => fail('The form could not be read.'));
  bb.on('close', () => {
    if (failed) return;
    req.body = fields;
    next();
  });
  req.pipe(bb);
}

/** Parses either encoding into req.body (a plain object of strings); anything else leaves {}. */
export function formBody(req: Request, res: Response, next: NextFunction) {
  if (req.is('multipart/form-data')) return multipart(req, res, next);
  return urlencoded(req, res, (err?: unknown) => {
    if (err) return next(err);
    if (!req.body || typeof req.body !== 'object') req.body = {};
    next();
  });
}

/** One string field, or undefined (repeated fields and non-strings are not a single value). */
export function field(req: Request, name: string): string | undefined {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
}

/** Every value given for a field (checkbox groups). */
export function fieldValues(req: Request, name: string): string[] {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
