import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'chai';
import request from 'supertest';
import { apiRoutes as routeTable } from '../../server/api.ts';
import { apiMarkdown } from '../../server/http/api-markdown.ts';
import { type TestApp, testApp } from '../support/app.ts';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  name?: string;
}

/** Every (method, path) registered under /api, read from the router itself. */
function apiRoutes(t: TestApp): string[] {
  const root = (t.app as unknown as { router: { stack: Layer[] } }).router;
  const apiLayer = root.stack.find((l) => l.handle?.stack?.some((x) => x.route?.path === '/openapi.json'));
  const out: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const l of stack) {
      if (l.route)
        for (const m of Object.keys(l.route.methods))
          out.push(`${m} ${l.route.path.replace(/:(\w+)/g, '{$1}')}`);
      else if (l.handle?.stack) walk(l.handle.stack);
    }
  };
  walk(apiLayer?.handle?.stack ?? []);
  return out;
}

describe('GET /api/openapi.json', () => {
  let t: TestApp;
  let doc: Record<string, any>;
  let ajv: Ajv2020;
  before(async () => {
    t = await testApp();
    doc = (await request(t.app).get('/api/openapi.json').expect(200)).body;
    ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema({ $id: 'doc', components: doc.components }, 'doc');
  });
  const validatorFor = (schema: object) =>
    ajv.compile({ ...schema, $id: undefined, $defs: undefined, ...rewrite(schema) });
  function rewrite(schema: object): object {
    return JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"doc#/components/'));
  }

  it('is OpenAPI 3.1 and describes every route in the router', () => {
    expect(doc.openapi).to.equal('3.1.0');
    const described = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops as object).map((m) => `${m} ${p}`),
    );
    const routes = apiRoutes(t);
    expect(routes.length).to.be.greaterThan(5);
    expect(routes.filter((r) => !described.includes(r))).to.deep.equal([]);
    expect(described.filter((d) => !routes.includes(d))).to.deep.equal([]);
  });

  it('has examples that validate against their schemas', () => {
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops as Record<string, any>)) {
        const contents = [
          op.requestBody?.content,
          ...Object.values(op.responses ?? {}).map((r: any) => r.content),
        ];
        for (const content of contents) {
          const media = content?.['application/json'];
          if (!media?.example) continue;
          const validate = validatorFor(media.schema);
          expect(validate(media.example), `${method} ${path}: ${JSON.stringify(validate.errors)}`).to.equal(
            true,
          );
          checked++;
        }
      }
    }
    expect(checked).to.be.greaterThan(8);
  });

  it('has docs/api.md written from the same route table (npm run docs)', () => {
    const written = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    expect(written, 'docs/api.md is stale: run npm run docs').to.equal(apiMarkdown(routeTable(t.ctx)));
  });
});
