// The JSON API under /api: every route, part by part, in the order they are matched. Each part's
// routes.ts declares its routes (http/route-table.ts); docs/api.md is generated from this list.
import type { AppContext } from './app.ts';
import { consentApi } from './consent/routes.ts';
import { contactApi } from './contacts/routes.ts';
import { json } from './http/openapi.ts';
import { type ApiRoute, openApiDocument } from './http/route-table.ts';
import { ledgerApi } from './ledger/routes.ts';
import { mailApi } from './mail/routes.ts';
import { permissionApi } from './permission/routes.ts';
import { webhookApi } from './webhooks/routes.ts';

export function apiRoutes(ctx: AppContext): ApiRoute[] {
  const routes: ApiRoute[] = [
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'getOpenApi',
      tag: 'Meta',
      scope: 'public',
      doc: {
        summary: 'This document',
        responses: { '200': { description: 'OpenAPI 3.1 document', content: json({ type: 'object' }) } },
      },
      handler: (_req, res) => {
        document ??= openApiDocument(ctx.config.baseUrl, routes);
        res.json(document);
      },
    },
    ...permissionApi(ctx),
    ...contactApi(ctx),
    ...mailApi(ctx),
    ...consentApi(ctx),
    ...ledgerApi(ctx),
    ...webhookApi(ctx),
  ];
  let document: object | undefined;
  return routes;
}
