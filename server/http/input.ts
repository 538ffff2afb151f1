// Input hygiene at the edge of the API and the console (SPEC "Input hygiene").
// A body that is not JSON where JSON is expected is a 415 and changes nothing (SPEC "Input
// hygiene"). express.json() leaves such a body unread, and a route would then see no fields at
// all: a targeted unsubscribe sent as text/plain read as "no topic", i.e. all marketing.
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '../errors.ts';
import { type InputProblem, inputProblems, urlProblems } from './hygiene.ts';

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

export function jsonBodiesOnly(req: Request, _res: Response, next: NextFunction) {
  if (req.method !== 'GET' && req.method !== 'HEAD' && hasBody(req) && !req.is('json')) {
    return next(
      new DomainError(
        'unsupported_media_type',
        `This endpoint takes JSON: send the body with "Content-Type: application/json" (got "${String(
          req.headers['content-type'] ?? 'none',
        ).slice(0, 100)}").`,
      ),
    );
  }
  next();
}

function refuse(problems: InputProblem[]) {
  const [first] = problems;
  const message =
    problems.length === 1
      ? `"${first.field}" ${first.message}.`
      : `${problems.length} fields hold characters or nesting this request does not allow.`;
  return new DomainError(
    'validation_failed',
    message,
    problems.map((p) => ({ ...p })),
  );
}

/** A 400 naming the part for a control character in the path or the query (SPEC "Input hygiene"). */
export function refuseBadUrl(req: Request, _res: Response, next: NextFunction) {
  const problems = urlProblems(req);
  next(problems.length ? refuse(problems) : undefined);
}

/** A 400 naming each field with a control character in a parsed body, or nested too deep. */
export function refuseBadBody(req: Request, _res: Response, next: NextFunction) {
  const problems = req.body === undefined ? [] : inputProblems(req.body);
  next(problems.length ? refuse(problems) : undefined);
}
