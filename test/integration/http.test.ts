import { expect } from 'chai';
import request from 'supertest';
import { migrateLatest } from '../../db/migrate.ts';
import { createApp } from '../../server/app.ts';
import { apiKeyFor, type TestApp, testApp, testConfig, uniqueEmail } from '../support/app.ts';
import { freshDb } from '../support/db.ts';

describe('HTTP platform', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp();
  });

  it('GET /healthz answers while the process is up', async () => {
    await request(t.app).get('/healthz').expect(200, { status: 'ok' });
  });

  it('GET /readyz answers 200 when the database answers', async () => {
    const res = await request(t.app).get('/readyz').expect(200);
    expect(res.body.database).to.equal('ok');
  });

  it('GET /readyz answers 503 when the database is gone', async function () {
    this.timeout(60_000);
    const fresh = await freshDb();
    await migrateLatest(fresh.db.knex);
    const app = createApp({ config: testConfig(), db: fresh.db });
    await request(app).get('/readyz').expect(200);
    await fresh.drop();
    const res = await request(app).get('/readyz').expect(503);
    expect(res.body.error.code).to.equal('unavailable');
  });

  it('answers 404 as JSON under /api and as a page elsewhere', async () => {
    const api = await request(t.app).get('/api/v1/nothing-here').expect(404);
    expect(api.body.error.code).to.equal('not_found');
    const page = await request(t.app).get('/nothing-here').expect(404);
    expect(page.headers['content-type']).to.match(/text\/html/);
    expect(page.text).to.include('Page not found');
    expect(page.text).to.include('noindex');
  });

  it('answers 413 with a clear message for a body over 4 MB', async () => {
    const huge = JSON.stringify({ recipients: ['x'.repeat(5 * 1024 * 1024)] });
    const res = await request(t.app)
      .post('/api/v1/anything')
      .set('Content-Type', 'application/json')
      .send(huge)
      .expect(413);
    expect(res.body.error.code).to.equal('payload_too_large');
    expect(res.body.error.message).to.include('4 MB');
  });

  it('answers 400, not 500, for malformed JSON', async () => {
    const res = await request(t.app)
      .post('/api/v1/anything')
      .set('Content-Type', 'application/json')
      .send('{"a":')
      .expect(400);
    expect(res.body.error.code).to.equal('validation_failed');
  });

  it('sends a strict CSP, no referrer, a request id and no X-Powered-By', async () => {
    const res = await request(t.app).get('/nothing');
    expect(res.headers['content-security-policy']).to.include("script-src 'self'");
    expect(res.headers['content-security-policy']).to.include("frame-ancestors 'none'");
    expect(res.headers['referrer-policy']).to.equal('no-referrer');
    expect(res.headers['x-request-id']).to.match(/^[\w-]{8,}/);
    expect(res.headers['x-powered-by']).to.equal(undefined);
  });

  it('GET /metrics exposes request counts by route template, never by address', async () => {
    await request(t.app).get('/api/v1/contacts/ann%40example.com');
    const res = await request(t.app).get('/metrics').expect(200);
    expect(res.text).to.include('http_requests_total');
    expect(res.text).to.include('http_request_duration_seconds');
    expect(res.text).not.to.include('example.com');
    // the loss-path metrics (SPEC "Operations")
    for (const name of ['opt_outs_deferred_total', 'opt_out_spool_depth', 'job_queue_oldest_seconds']) {
      expect(res.text, name).to.include(name);
    }
    expect(res.text).to.match(/job_queue_oldest_seconds\{queue="mail.preferences-link"\} \d/);
  });

  it('GET /metrics counts every request once, with a latency histogram whose buckets add up', async () => {
    const { app } = await testApp();
    const value = (text: string, line: string) => {
      const found = text.split('\n').find((l) => l.startsWith(`${line} `));
      return found === undefined ? undefined : Number(found.slice(line.length + 1));
    };
    const route = 'method="GET",route="/u/:token"';
    for (let i = 0; i < 3; i++) await request(app).get('/u/not-a-token').expect(404);
    await request(app).get('/nothing').expect(404);
    const first = (await request(app).get('/metrics').expect(200)).text;
    expect(value(first, `http_requests_total{${route},status="404"}`)).to.equal(3);
    expect(value(first, 'http_requests_total{method="GET",route="unmatched",status="404"}')).to.equal(1);
    expect(value(first, `http_request_duration_seconds_count{${route}}`)).to.equal(3);
    expect(value(first, `http_request_duration_seconds_bucket{le="+Inf",${route}}`)).to.equal(3);
    const buckets = first
      .split('\n')
      .filter((l) => l.startsWith('http_request_duration_seconds_bucket{') && l.includes(route))
      .map((l) => Number(l.split(' ')[1]));
    expect(buckets).to.have.length(13);
    expect(buckets).to.deep.equal([...buckets].sort((a, b) => a - b)); // cumulative
    expect(value(first, `http_request_duration_seconds_sum{${route}}`)).to.be.above(0);
    expect(first).to.match(/# TYPE http_request_duration_seconds histogram/);
    // a second read hands nothing twice; one more request shows
    await request(app).get('/u/not-a-token').expect(404);
    const second = (await request(app).get('/metrics').expect(200)).text;
    expect(value(second, `http_requests_total{${route},status="404"}`)).to.equal(4);
    expect(value(second, `http_request_duration_seconds_count{${route}}`)).to.equal(4);
    expect(value(second, 'http_requests_total{method="GET",route="/metrics",status="200"}')).to.equal(1);
  });

  it('GET /metrics counts send-permission decisions by channel and reason, each once', async () => {
    const own = await testApp();
    const { auth } = await apiKeyFor(own);
    const value = (text: string, reason: string) => {
      const line = `send_permission_decisions_total{channel="email",reason="${reason}"}`;
      const found = text.split('\n').find((l) => l.startsWith(`${line} `));
      return found === undefined ? undefined : Number(found.slice(line.length + 1));
    };
    const check = (recipient: string) =>
      request(own.app)
        .post('/api/v1/send-permission')
        .set('Authorization', auth)
        .send({ channel: 'email', recipient, topic: 'newsletter' })
        .expect(200);
    const known = uniqueEmail('metrics');
    await request(own.app).put(`/api/v1/contacts/${known}`).set('Authorization', auth).send({}).expect(201);
    await check(known);
    await check(known);
    await check(uniqueEmail('nobody'));
    const first = (await request(own.app).get('/metrics').expect(200)).text;
    expect([value(first, 'subscribed'), value(first, 'unknown_recipient')]).to.deep.equal([2, 1]);
    await check(known);
    await request(own.app)
      .post('/api/v1/send-permission/batch')
      .set('Authorization', auth)
      .send({ channel: 'email', topic: 'newsletter', recipients: [known, uniqueEmail('nobody')] })
      .expect(200);
    const second = (await request(own.app).get('/metrics').expect(200)).text;
    expect([value(second, 'subscribed'), value(second, 'unknown_recipient')]).to.deep.equal([4, 2]);
  });

  it('GET /metrics needs METRICS_TOKEN when one is set', async () => {
    const { app } = await testApp({ env: { METRICS_TOKEN: 'scrape-secret' } });
    await request(app).get('/metrics').expect(401);
    await request(app).get('/metrics').set('Authorization', 'Bearer wrong').expect(401);
    await request(app).get('/metrics').set('Authorization', 'Bearer scrape-secret').expect(200);
  });
});
