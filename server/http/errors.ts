// One error type for the whole service. Routes and services throw AppError; the error handler
// renders it as JSON under /api and /webhooks and as a page elsewhere.
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

export const STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  provider_failed: 502,
  internal: 500,
};

export interface ErrorDetail {
  field?: string;
  message: string;
  [k: string]: unknown;
}

export class AppError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  constructor(code: ErrorCode, message: string, details: ErrorDetail[] = []) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
    this.status = STATUS[code];
  }
}

export const invalid = (message: string, details: ErrorDetail[] = []) =>
  new AppError('validation_failed', message, details);
export const notFound = (message = 'Not found.') => new AppError('not_found', message);
export const conflict = (message: string, details: ErrorDetail[] = []) =>
  new AppError('conflict', message, details);
export const forbidden = (message = 'You do not have access to this.') => new AppError('forbidden', message);

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
