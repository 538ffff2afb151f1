// docs/api.md, written from the route table (npm run docs; a test fails when the file is stale).
import { STATUS } from './error-handler.ts';
import { type ApiRoute, errorCodesOf, type Tag } from './route-table.ts';

const FILES: Record<Tag, string> = {
  Checks: 'server/permission/routes.ts',
  Contacts: 'server/contacts/routes.ts',
  Consent: 'server/consent/routes.ts',
  Mail: 'server/mail/routes.ts',
  Events: 'server/ledger/routes.ts',
  Webhooks: 'server/webhooks/routes.ts',
  Meta: 'server/api.ts',
};

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();

export function apiMarkdown(routes: ApiRoute[]): string {
  const out: string[] = [
    '# API reference',
    '',
    '<!-- Generated from the route table (server/api.ts) by `npm run docs`. Do not edit by hand. -->',
    '',
    'Every JSON route under `/api`, in the order the router matches them. The machine-readable',
    'description is `GET /api/openapi.json` (OpenAPI 3.1), built from the same declarations.',
    'Authenticate with `Authorization: Bearer <key>`; each route names the scope its key needs.',
    'Errors are `{"error":{"code","message","details"}}`; the codes and statuses are in',
    '[operations.md](operations.md#errors).',
    '',
    'To follow a route to its SQL: the declaration in the file named below calls one service',
    "function of its part (`service.ts`), which opens the transaction and calls the part's",
    '`queries.ts`.',
    '',
    '| Method | Path | Scope | Operation | Declared in |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const r of routes) {
    out.push(
      `| ${r.method.toUpperCase()} | \`/api${r.path}\` | ${r.scope} | [${r.operationId}](#${r.operationId.toLowerCase()}) | \`${FILES[r.tag]}\` |`,
    );
  }
  for (const r of routes) {
    out.push(
      '',
      `## ${r.operationId}`,
      '',
      `\`${r.method.toUpperCase()} /api${r.path}\` · scope \`${r.scope}\``,
      '',
    );
    out.push(cell(r.doc.summary));
    if (r.doc.description) out.push('', cell(r.doc.description));
    const success = Object.entries(r.doc.responses)
      .filter(([s]) => Number(s) < 400)
      .map(([s, v]) => `${s} (${cell(String((v as { description?: string }).description ?? ''))})`);
    const errors = [
      ...Object.entries(r.doc.responses)
        .filter(([s]) => Number(s) >= 400)
        .map(([s]) => s),
      ...errorCodesOf(r).map((c) => String(STATUS[c])),
    ];
    out.push('', `Answers: ${success.join('; ')}.`);
    out.push(`Errors: ${errors.length ? [...new Set(errors)].sort().join(', ') : 'none'}.`);
    if (r.input) out.push(`Input checked by express-validator (${r.input.length} rules).`);
    if (r.body === 'stream') out.push('Reads its own body, any size: mounted before the JSON parser.');
  }
  return `${out.join('\n')}\n`;
}
