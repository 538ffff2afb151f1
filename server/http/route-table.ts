// The API's one route table. Each route is declared once, beside its handler in its part's
// routes.ts: method, path, scope, the express-validator chains of its input and the OpenAPI
// description of what it takes and answers. mountApi() wires the guards from the declaration and
// openApiDocument() builds /api/openapi.json from the same declarations, adding the answers every
// route of a kind can give (401/403 for keyed routes, 400/413/415 for JSON bodies, 503 for all).
import type { NextFunction, Request, Response, Router } from 'express';
import type { ValidationChain } from 'express-validator';
import type { Scope } from '../admin/api-keys.ts';
import type { ErrorCode } from '../errors.ts';
import { STATUS } from './error-handler.ts';
import { API_INFO, COMPONENTS, ERROR_RESPONSES } from './openapi.ts';
import { requireObjectBody, validate } from './validate.ts';

export type Tag = 'Checks' | 'Contacts' | 'Consent' | 'Mail' | 'Events' | 'Webhooks' | 'Meta';

/** An OpenAPI operation, less what the table adds (operationId, tags, standard answers). */
export interface OperationDoc {
  summary: string;
  description?: string;
  parameters?: object[];
  requestBody?: object;
  /** The success answers and any answer this route explains in its own words. */
  responses: Record<string, object>;
}

export interface ApiRoute {
  method: 'get' | 'put' | 'post' | 'delete';
  /** OpenAPI path template under /api, e.g. `/v1/contacts/{email}`. */
  path: string;
  operationId: string;
  tag: Tag;
  /** The key scope needed: `any` takes any valid key, `public` none. */
  scope: Scope | 'any' | 'public';
  /**
   * The body read: `json` a JSON object (required), `json-optional` a JSON object or nothing,
   * `stream` read by the handler itself at any size (mounted before the JSON parser).
   */
  body?: 'json' | 'json-optional' | 'stream';
  /** express-validator chains for the input, reported as one 400 naming each bad field. */
  input?: ValidationChain[];
  /** The message of that 400. */
  invalid?: string;
  /** Error codes this route can answer beyond those of its kind (e.g. not_found, conflict). */
  errors?: ErrorCode[];
  doc: OperationDoc;
  handler: (req: Request, res: Response) => unknown;
}

export interface ApiAuthGuards {
  require(scope: Scope): (req: Request, res: Response, next: NextFunction) => void;
  requireAny(): (req: Request, res: Response, next: NextFunction) => void;
}

/** `/v1/contacts/{email}` → `/v1/contacts/:email`. */
export const expressPath = (template: string) => template.replace(/\{(\w+)\}/g, ':$1');

/** Adds each route to the router with the guards its declaration asks for, in table order. */
export function mountApi(router: Router, auth: ApiAuthGuards, routes: ApiRoute[]) {
  for (const r of routes) {
    const guards = [];
    if (r.scope === 'any') guards.push(auth.requireAny());
    else if (r.scope !== 'public') guards.push(auth.require(r.scope));
    if (r.body === 'json') guards.push(requireObjectBody);
    if (r.input) guards.push(validate(r.input, r.invalid));
    router[r.method](expressPath(r.path), ...guards, r.handler);
  }
}

const readsInput = (r: ApiRoute) =>
  r.body !== undefined ||
  r.input !== undefined ||
  r.path.includes('{') ||
  (r.doc.parameters?.length ?? 0) > 0;

/** The error codes a route can answer: those of its kind, then its own. */
export function errorCodesOf(r: ApiRoute): ErrorCode[] {
  const codes: ErrorCode[] = [];
  if (readsInput(r)) codes.push('validation_failed');
  if (r.scope !== 'public') codes.push('unauthorized');
  if (r.scope !== 'public' && r.scope !== 'any') codes.push('forbidden');
  codes.push(...(r.errors ?? []));
  if (r.body === 'json' || r.body === 'json-optional')
    codes.push('payload_too_large', 'unsupported_media_type');
  if (r.scope !== 'public') codes.push('unavailable');
  return [...new Set(codes)];
}

function operation(r: ApiRoute) {
  const responses: Record<string, object> = { ...r.doc.responses };
  for (const code of errorCodesOf(r)) {
    const status = String(STATUS[code]);
    responses[status] ??= ERROR_RESPONSES[code];
  }
  const sorted = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
  return {
    operationId: r.operationId,
    tags: [r.tag],
    summary: r.doc.summary,
    ...(r.doc.description ? { description: r.doc.description } : {}),
    ...(r.scope === 'public' ? { security: [] } : {}),
    ...(r.doc.parameters ? { parameters: r.doc.parameters } : {}),
    ...(r.doc.requestBody ? { requestBody: r.doc.requestBody } : {}),
    responses: sorted,
    'x-scope': r.scope,
  };
}

/** The OpenAPI 3.1 document of the routes, served at GET /api/openapi.json. */
export function openApiDocument(baseUrl: string, routes: ApiRoute[]) {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of routes) {
    paths[r.path] ??= {};
    paths[r.path][r.method] = operation(r);
  }
  return {
    openapi: '3.1.0',
    info: API_INFO,
    servers: [{ url: `${baseUrl.replace(/\/+$/, '')}/api` }],
    security: [{ apiKey: [] }],
    tags: [
      { name: 'Checks', description: 'May this topic go to this person on this channel?' },
      { name: 'Contacts', description: 'Contacts, accounts and their agreements, topics' },
      { name: 'Consent', description: 'Prior express written consent to texts and calls' },
      { name: 'Mail', description: 'The mail gateway: decides, then sends' },
      { name: 'Events', description: 'The ledger, in commit order' },
      { name: 'Webhooks', description: 'Ledger events pushed to your endpoints' },
      { name: 'Meta', description: 'This document' },
    ],
    components: COMPONENTS,
    paths,
  };
}

/**
 * What res.json sends (Express adds nothing else to a POST's JSON answer here: no ETag, no json
 * settings), without its per-answer work of looking up settings and parsing and rewriting its
 * own Content-Type: for the single check, the hottest answer.
 */
export function sendJson(res: Response, body: unknown) {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', bytes.length);
  res.end(bytes);
}
