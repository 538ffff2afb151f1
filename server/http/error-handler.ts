import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { DomainError, type ErrorCode, isDatabaseUnavailable } from '../errors.ts';
import { browserLocale, format, pickLocale, strings, supportedLocale } from '../i18n/index.ts';

/** The HTTP status of each domain error code: decided here, at the edge, and nowhere else. */
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

export function isApiPath(path: string) {
  return path.startsWith('/api/') || path === '/api' || path.startsWith('/webhooks/') || path === '/metrics';
}

/** Maps whatever was thrown to a DomainError without ever blaming the caller for our faults. */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const e = err as {
    type?: string;
    status?: number;
    statusCode?: number;
    expose?: boolean;
    message?: string;
  };
  // body-parser / raw-body errors carry a type and a 4xx status
  if (e?.type === 'entity.too.large') {
    return new DomainError('payload_too_large', 'The request body is too large: the limit is 4 MB.');
  }
  if (e?.type === 'entity.parse.failed') {
    return new DomainError('validation_failed', 'The request body is not valid JSON.', [
      { message: String(e.message) },
    ]);
  }
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new DomainError(
      'unsupported_media_type',
      'The request body uses an encoding or charset we do not accept.',
    );
  }
  if (e?.type === 'request.aborted')
    return new DomainError('validation_failed', 'The request was aborted by the client.');
  if (isDatabaseUnavailable(err)) {
    return new DomainError(
      'unavailable',
      'The service cannot reach its database right now. Try again shortly.',
    );
  }
  const status = e?.status ?? e?.statusCode;
  if (status && status >= 400 && status < 500 && e.expose) {
    return new DomainError(status === 413 ? 'payload_too_large' : 'validation_failed', String(e.message));
  }
  return new DomainError('internal', 'Something went wrong on our side. It has been logged.');
}

export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const appErr = toDomainError(err);
    if (res.writableEnded) {
      // Answered already (a page save past its budget was told "unconfirmed, send again"):
      // whatever the work ended with is only logged, and the connection is left alone.
      logger.warn({ err, reqId: req.id }, 'request failed after its answer');
      return;
    }
    if (appErr.code === 'internal' || appErr.code === 'unavailable') {
      logger.error({ err, code: appErr.code, reqId: req.id }, 'request failed');
    }
    if (res.headersSent) {
      // Half an answer is worse than none: cut it so the client sees a failure.
      res.destroy();
      return;
    }
    if (appErr.code === 'rate_limited') res.setHeader('Retry-After', '60');
    res.status(STATUS[appErr.code]);
    if (isApiPath(req.path)) {
      res.json({
        error: {
          code: appErr.code,
          message: appErr.message,
          ...(appErr.details.length ? { details: appErr.details } : {}),
        },
      });
      return;
    }
    // Pages answer in the reader's language (the switch's ?lang=, else the browser's); the
    // console is English. Spanish readers get the page's own words for the error, not the
    // English message written for the log and the API.
    const locale = req.path.startsWith('/admin')
      ? 'en'
      : (supportedLocale(typeof req.query.lang === 'string' ? req.query.lang : null) ??
        pickLocale(null, browserLocale(req)));
    const t = strings(locale);
    res.render('error', {
      status: STATUS[appErr.code],
      code: appErr.code,
      message: locale === 'en' ? appErr.message : t[`errorText.${errorGroup(appErr)}`],
      details: locale === 'en' ? appErr.details : [],
      title: t[`errorTitle.${errorGroup(appErr)}`],
      back: req.method === 'POST',
      t,
      lang: locale,
      format,
    });
  };
}

type ErrorGroup = 'not_found' | 'forbidden' | 'rate_limited' | 'bad_request' | 'unavailable' | 'internal';

function errorGroup(err: DomainError): ErrorGroup {
  switch (err.code) {
    case 'not_found':
    case 'forbidden':
    case 'rate_limited':
    case 'unavailable':
      return err.code;
    case 'validation_failed':
    case 'payload_too_large':
    case 'unsupported_media_type':
    case 'conflict':
      return 'bad_request';
    default:
      return 'internal';
  }
}
