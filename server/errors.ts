// The domain's one error type: a code a caller can act on, a message a person can read, and
// details per field. Nothing of HTTP here: server/http/error-handler.ts maps codes to statuses.
export type ErrorCode =
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'unavailable'
  | 'provider_failed'
  | 'internal';

export interface ErrorDetail {
  field?: string;
  message: string;
  [k: string]: unknown;
}

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  constructor(code: ErrorCode, message: string, details: ErrorDetail[] = []) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.details = details;
  }
}

export const invalid = (message: string, details: ErrorDetail[] = []) =>
  new DomainError('validation_failed', message, details);
export const notFound = (message = 'Not found.') => new DomainError('not_found', message);
export const conflict = (message: string, details: ErrorDetail[] = []) =>
  new DomainError('conflict', message, details);
export const forbidden = (message = 'You do not have access to this.') =>
  new DomainError('forbidden', message);

/** pg error codes that mean "the database is not there right now", not "your input is bad". */
const UNAVAILABLE_PG = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
  '57014',
]);

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string };
  if (!e) return false;
  if (e.code && UNAVAILABLE_PG.has(e.code)) return true;
  if (e.code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(e.code))
    return true;
  if (e.name === 'KnexTimeoutError') return true;
  const m = e.message ?? '';
  return /timeout exceeded when trying to connect|Connection terminated|database is closed|PGlite is closed|Timeout acquiring a connection|Client has encountered a connection error|timed out after/i.test(
    m,
  );
}
