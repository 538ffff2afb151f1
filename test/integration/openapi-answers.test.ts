// Every operation of /api/openapi.json, called for real: each answer's status must be documented
// for that operation and its body must validate against the documented schema (NDJSON: each
// line). The document itself must pass @apidevtools/swagger-parser and carry operationId, tags,
// the statuses each kind of route can answer, and servers from BASE_URL.
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect } from 'chai';
import request from 'supertest';
import { createApp } from '../../server/app.ts';
import { upsertAccount } from '../../server/contacts/service.ts';
import { createDb } from '../../server/db.ts';
import { apiKeyFor, type TestApp, testApp, testConfig, uniqueEmail, uniqueId } from '../support/app.ts';

// 15:00 UTC on a winter Wednesday: 10:00 in New York, inside calling hours everywhere east.
const NOON_EAST = new Date('2026-01-14T15:00:00Z');

type Doc = {
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: object;
};
type Operation = {
  operationId: string;
  tags: string[];
  'x-scope': string;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
};

describe('the OpenAPI document against real answers', () => {
  let t: TestApp;
  let doc: Doc;
  let auth: string;
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  const validators = new Map<string, ValidateFunction>();
  /** operationId → statuses really answered and validated */
  const seen = new Map<string, Set<number>>();

  before(async () => {
    t = await testApp({ now: () => NOON_EAST, env: { WEBHOOK_ALLOW_PRIVATE_URLS: 'true' } });
    doc = (await request(t.app).get('/api/openapi.json').expect(200)).body;
    ajv.addSchema({ $id: 'doc', components: doc.components });
    auth = (await apiKeyFor(t)).auth;
  });

  function schemaValidator(key: string, schema: object) {
    let v = validators.get(key);
    if (!v) {
      const rewritten = JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"doc#/components/'));
      v = ajv.compile(rewritten);
      validators.set(key, v);
    }
    return v;
  }

  /** Checks one real answer against the operation at `template` and records it. */
  function conforms(method: string, template: string, res: request.Response) {
    const op = doc.paths[template]?.[method];
    expect(op, `${method} ${template} is documented`).to.not.equal(undefined);
    const documented = op.responses[String(res.status)];
    expect(documented, `${op.operationId} documents ${res.status} (${res.text.slice(0, 200)})`).to.not.equal(
      undefined,
    );
    const type = String(res.headers['content-type'] ?? '').split(';')[0];
    if (res.status !== 204 && type) {
      const media = documented.content?.[type];
      expect(media, `${op.operationId} ${res.status} documents ${type}`).to.not.equal(undefined);
      const validate = schemaValidator(`${op.operationId} ${res.status} ${type}`, media?.schema as object);
      const bodies =
        type === 'application/json'
          ? [res.body]
          : type === 'application/x-ndjson'
            ? res.text
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l))
            : [res.text];
      for (const body of bodies) {
        expect(
          validate(body),
          `${op.operationId} ${res.status}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(body).slice(0, 300)}`,
        ).to.equal(true);
      }
    }
    const statuses = seen.get(op.operationId) ?? new Set<number>();
    statuses.add(res.status);
    seen.set(op.operationId, statuses);
    return res;
  }

  const call = async (
    method: 'get' | 'put' | 'post' | 'delete',
    template: string,
    url: string,
    body?: unknown,
  ) => {
    let req = request(t.app)[method](`/api${url}`).set('Authorization', auth);
    if (body !== undefined)
      req = typeof body === 'string' ? req.type('text/plain').send(body) : req.send(body as object);
    return conforms(method, template, await req);
  };

  it('passes swagger-parser, with operationId, tags and servers from BASE_URL', async () => {
    await SwaggerParser.validate(structuredClone(doc) as never);
    expect(doc.servers).to.deep.equal([{ url: 'https://prefs.example.test/api' }]);
    const ids: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.operationId, `${method} ${path}`).to.be.a('string');
        expect(op.tags, `${method} ${path}`).to.have.length(1);
        ids.push(op.operationId);
        const statuses = Object.keys(op.responses);
        if (op['x-scope'] !== 'public') expect(statuses, op.operationId).to.include.members(['401', '503']);
        if (!['public', 'any'].includes(op['x-scope'])) expect(statuses, op.operationId).to.include('403');
        if (op.requestBody?.content['application/json'])
          expect(statuses, op.operationId).to.include.members(['400', '413', '415']);
      }
    }
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it('describes every answer of every operation, called for real', async function () {
    this.timeout(60_000);
    const email = uniqueEmail('openapi');
    const account = uniqueId('acct');
    const phone = `+1305${200 + Math.floor(Math.random() * 700)}${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;

    // Contacts and accounts
    await call('get', '/openapi.json', '/openapi.json');
    await call('get', '/v1/topics', '/v1/topics');
    await call('put', '/v1/accounts/{externalId}', `/v1/accounts/${account}`, {
      name: 'Acme',
      agreement: { status: 'signed', signedAt: '2026-01-02', reference: 'MSA-1' },
    });
    await call('put', '/v1/accounts/{externalId}', `/v1/accounts/${account}`, { name: 'Acme Inc' });
    await call('put', '/v1/accounts/{externalId}', `/v1/accounts/${account}`, { agreement: { status: 'x' } });
    const created = await call('put', '/v1/contacts/{email}', `/v1/contacts/${email}`, {
      name: 'Ann',
      accountExternalId: account,
      phone,
      timeZone: 'America/New_York',
      region: 'US-FL',
    });
    expect(created.status).to.equal(201);
    await call('put', '/v1/contacts/{email}', `/v1/contacts/${email}`, { name: 'Ann Example' });
    await call('put', '/v1/contacts/{email}', `/v1/contacts/${email}`, { nope: 1 });
    await call('get', '/v1/contacts/{email}', `/v1/contacts/${email}`);
    await call('get', '/v1/contacts/{email}', `/v1/contacts/${uniqueEmail('nobody')}`);

    // Consent
    await call('post', '/v1/contacts/{email}/consents', `/v1/contacts/${email}/consents`, {
      phone,
      channels: ['sms', 'voice'],
      method: 'web_form',
      disclosureVersion: 1,
      capturedAt: '2026-01-10T12:00:00Z',
      ip: '203.0.113.7',
      userAgent: 'Mozilla/5.0 test',
    });
    await call('get', '/v1/contacts/{email}/consents', `/v1/contacts/${email}/consents`);

    // Checks
    await call('post', '/v1/send-permission', '/v1/send-permission', {
      channel: 'email',
      recipient: email,
      topic: 'newsletter',
    });
    await call('post', '/v1/send-permission', '/v1/send-permission', { channel: 'fax' });
    const reserved = await call('post', '/v1/send-permission', '/v1/send-permission', {
      channel: 'sms',
      recipient: phone,
      topic: 'offers',
      reserve: true,
    });
    expect(reserved.body.reservationId, JSON.stringify(reserved.body)).to.be.a('string');
    await call(
      'delete',
      '/v1/send-permission/reservations/{id}',
      `/v1/send-permission/reservations/${reserved.body.reservationId}`,
    );
    await call(
      'delete',
      '/v1/send-permission/reservations/{id}',
      `/v1/send-permission/reservations/${reserved.body.reservationId}`,
    );
    await call('post', '/v1/send-permission/batch', '/v1/send-permission/batch', {
      channel: 'email',
      topic: 'offers',
      recipients: [email, 'nobody@example.com'],
    });
    const stream = await conforms(
      'post',
      '/v1/send-permission/stream',
      await request(t.app)
        .post('/api/v1/send-permission/stream?channel=email&topic=offers&links=true')
        .set('Authorization', auth)
        .type('text/plain')
        .send(`${email}\nnot an address\n{"recipient":"x@example.com"}\n`),
    );
    expect(stream.text.split('\n').filter(Boolean)).to.have.length(3);
    await call('post', '/v1/send-permission/stream', '/v1/send-permission/stream', 'a@example.com\n');

    // Mail
    const message = {
      to: email,
      topic: 'offers',
      subject: 'Hello',
      html: '<p>Hi</p><a href="{{unsubscribe_url}}">Unsubscribe</a>',
    };
    const sent = await call('post', '/v1/messages', '/v1/messages', message);
    expect(sent.status).to.equal(202);
    await call('post', '/v1/messages', '/v1/messages', { ...message, subject: '' });
    await call('post', '/v1/messages/batch', '/v1/messages/batch', {
      messages: [message, { ...message, to: 'not-an-address' }],
    });
    await call('get', '/v1/messages/{id}', `/v1/messages/${sent.body.id}`);
    await call('get', '/v1/messages/{id}', '/v1/messages/00000000-0000-4000-8000-000000000000');

    // Unsubscribe, then the gateway refuses and the consent is revoked
    await call('post', '/v1/contacts/{email}/unsubscribe', `/v1/contacts/${email}/unsubscribe`, {
      topic: 'offers',
    });
    await call(
      'post',
      '/v1/contacts/{email}/unsubscribe',
      `/v1/contacts/${email}/unsubscribe`,
      'topic=offers',
    );
    const refused = await call('post', '/v1/messages', '/v1/messages', message);
    expect(refused.status).to.equal(422);
    await call('post', '/v1/contacts/{email}/consents/revoke', `/v1/contacts/${email}/consents/revoke`, {
      phone,
      channels: ['sms'],
    });

    // Events
    const events = await call('get', '/v1/events', `/v1/events?contact=${encodeURIComponent(email)}`);
    const lines = events.text.split('\n').filter(Boolean);
    expect(lines.length).to.be.greaterThan(4);
    await call('get', '/v1/events', `/v1/events?format=csv&contact=${encodeURIComponent(email)}`);
    await call('get', '/v1/events', '/v1/events?after=12');

    // Webhooks
    const hook = await call('post', '/v1/webhooks', '/v1/webhooks', {
      url: 'http://127.0.0.1:9/hook',
      events: ['preference.changed'],
    });
    expect(hook.status).to.equal(201);
    await call('post', '/v1/webhooks', '/v1/webhooks', { url: 'ftp://x', events: [] });
    await call('get', '/v1/webhooks', '/v1/webhooks');
    await call('get', '/v1/webhooks/{id}', `/v1/webhooks/${hook.body.id}`);
    await call('post', '/v1/webhooks/{id}/replay', `/v1/webhooks/${hook.body.id}/replay`, {
      after: JSON.parse(lines[0]).cursor,
    });
    await call('post', '/v1/webhooks/{id}/resume', `/v1/webhooks/${hook.body.id}/resume`);
    await call('post', '/v1/webhooks/{id}/roll-secret', `/v1/webhooks/${hook.body.id}/roll-secret`);
    await call('delete', '/v1/webhooks/{id}', `/v1/webhooks/${hook.body.id}`);
    await call('get', '/v1/webhooks/{id}', `/v1/webhooks/${hook.body.id}`);

    // Data requests
    const history = await call('get', '/v1/contacts/{email}/consents', `/v1/contacts/${email}/consents`);
    const consentId = history.body.consents[0].id;
    await call(
      'get',
      '/v1/contacts/{email}/consents/{id}/receipt',
      `/v1/contacts/${email}/consents/${consentId}/receipt`,
    );
    await call(
      'get',
      '/v1/contacts/{email}/consents/{id}/receipt',
      `/v1/contacts/${email}/consents/00000000-0000-4000-8000-000000000000/receipt`,
    );
    await call('get', '/v1/contacts/{email}/export', `/v1/contacts/${email}/export`);

    // Erasure last
    await call('delete', '/v1/contacts/{email}', `/v1/contacts/${email}`);
    await call('delete', '/v1/contacts/{email}', `/v1/contacts/${email}`);

    // The answers every route of a kind can give
    conforms('get', '/v1/topics', await request(t.app).get('/api/v1/topics'));
    const checkOnly = (await apiKeyFor(t, ['check'])).auth;
    conforms(
      'get',
      '/v1/contacts/{email}',
      await request(t.app).get(`/api/v1/contacts/${email}`).set('Authorization', checkOnly),
    );
    conforms(
      'put',
      '/v1/contacts/{email}',
      await request(t.app)
        .put(`/api/v1/contacts/${email}`)
        .set('Authorization', auth)
        .type('json')
        .send(`{"name":"${'x'.repeat(4 * 1024 * 1024)}"}`),
    );

    const everyOperation = Object.values(doc.paths).flatMap((ops) =>
      Object.values(ops).map((o) => o.operationId),
    );
    const without2xx = everyOperation.filter((id) => ![...(seen.get(id) ?? [])].some((s) => s < 300));
    expect(without2xx, 'operations never answered with success').to.deep.equal([]);
  });

  it('documents the 503 a route answers when the database is away', async function () {
    this.timeout(30_000);
    const db = await createDb({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none' });
    const down = createApp({ config: testConfig(), db });
    try {
      for (const [method, template, url] of [
        ['post', '/v1/send-permission', '/api/v1/send-permission'],
        ['get', '/v1/contacts/{email}', '/api/v1/contacts/a@example.com'],
        ['get', '/v1/events', '/api/v1/events'],
      ] as const) {
        const res = await request(down)[method](url).set('Authorization', auth).send({});
        expect(res.status).to.equal(503);
        conforms(method, template, res);
      }
    } finally {
      await db.close();
    }
  });

  it('keeps examples and account fixtures honest', async () => {
    // an account made outside the API reads back through it
    const account = uniqueId('acct');
    await upsertAccount(t.ctx, { actor: 'system' }, account, { name: 'Made inside' });
    const res = await call('put', '/v1/accounts/{externalId}', `/v1/accounts/${account}`, {
      name: 'Renamed',
    });
    expect(res.status).to.equal(200);
  });
});
