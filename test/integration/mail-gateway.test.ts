import { expect } from 'chai';
import request from 'supertest';
import { upsertContact } from '../../server/contacts/service.ts';
import { setPreferences } from '../../server/preferences/service.ts';
import { apiKeyFor, type TestApp, testApp, uniqueEmail } from '../support/app.ts';
import { type FakeSendGrid, startFakeSendGrid } from '../support/fake-sendgrid.ts';
import { baseEnv, runCli } from '../support/process.ts';

const system = { actor: 'system' as const };

describe('mail gateway', () => {
  let fake: FakeSendGrid;
  let t: TestApp;
  let auth: string;
  before(async () => {
    fake = await startFakeSendGrid();
    t = await testApp({
      env: {
        SENDGRID_API_KEY: 'SG.test-key',
        SENDGRID_API_URL: fake.url,
        MAIL_FROM: 'News <news@example.com>',
      },
    });
    auth = (await apiKeyFor(t, ['send'])).auth;
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.received.length = 0;
    fake.queue.length = 0;
  });

  async function contact(name = 'Ann Example') {
    const email = uniqueEmail();
    const { contact } = await upsertContact(t.ctx, system, email, { name, phone: null });
    return { email, id: contact.id as string };
  }
  const marketing = (to: string, extra: object = {}) => ({
    to,
    topic: 'newsletter',
    subject: 'Our news',
    html: '<p>Hi</p><a href="{{unsubscribe_url}}">Unsubscribe</a> <a href="{{ preferences_url }}">Preferences</a>',
    text: 'Hi. Unsubscribe: {{unsubscribe_url}}',
    ...extra,
  });
  const send = (body: object, key?: string) => {
    const r = request(t.app).post('/api/v1/messages').set('Authorization', auth);
    if (key) r.set('Idempotency-Key', key);
    return r.send(body);
  };

  it('sends allowed marketing through SendGrid with both headers, categories, custom args and filled links', async () => {
    const c = await contact();
    const res = await send(marketing(c.email)).expect(202);
    expect(Object.keys(res.body).sort()).to.deep.equal(['id', 'status']);
    expect(res.body.status).to.equal('sent');
    expect(fake.received).to.have.length(1);
    const { headers, body } = fake.received[0];
    expect(headers.authorization).to.equal('Bearer SG.test-key');
    const p = (
      body.personalizations as { to: { email: string }[]; custom_args: Record<string, string> }[]
    )[0];
    expect(p.to).to.deep.equal([{ email: c.email }]);
    const customArgs = (body.custom_args ?? p.custom_args) as Record<string, string>;
    expect(customArgs).to.deep.equal({ message_id: res.body.id, contact_id: c.id, topic: 'newsletter' });
    expect(body.categories).to.deep.equal(['newsletter']);
    const h = body.headers as Record<string, string>;
    expect(h['List-Unsubscribe']).to.match(/^<https:\/\/prefs\.example\.test\/u\/[\w.-]+>$/);
    expect(h['List-Unsubscribe-Post']).to.equal('List-Unsubscribe=One-Click');
    expect(body.tracking_settings).to.deep.equal({ subscription_tracking: { enable: false } });
    expect(body.mail_settings).to.equal(undefined);
    const content = body.content as { type: string; value: string }[];
    const html = content.find((x) => x.type === 'text/html')?.value as string;
    const text = content.find((x) => x.type === 'text/plain')?.value as string;
    const url = h['List-Unsubscribe'].slice(1, -1);
    expect(text).to.equal(`Hi. Unsubscribe: ${url}`);
    expect(html).to.include(`<a href="${url}">Unsubscribe</a>`);
    expect(html).to.match(/href="https:\/\/prefs\.example\.test\/preferences\/[\w.-]+">Preferences/);
    // Nothing personal beyond the address: no name, no phone, no ledger data.
    expect(JSON.stringify(body)).not.to.include('Ann Example');
    const stored = await request(t.app)
      .get(`/api/v1/messages/${res.body.id}`)
      .set('Authorization', auth)
      .expect(200);
    expect(stored.body).to.include({
      status: 'sent',
      transport: 'sendgrid',
      providerMessageId: 'fakeid1',
      attempts: 1,
    });
    expect(stored.body.headers['List-Unsubscribe']).to.equal(h['List-Unsubscribe']);
    // the link in the message works: one-click unsubscribes
    await request(t.app)
      .post(new URL(url).pathname)
      .type('form')
      .send('List-Unsubscribe=One-Click')
      .expect(200);
    await send(marketing(c.email)).expect(422, { status: 'suppressed', reason: 'unsubscribed_topic' });
  });

  it('sends operational mail without unsubscribe headers, bypassing SendGrid unsubscribe lists, after unsubscribe-all', async () => {
    const c = await contact();
    await setPreferences(t.ctx, system, c.id, [{ channel: 'email', topic: null, status: 'unsubscribed' }]);
    await send({ to: c.email, topic: 'account', subject: 'Your invoice', text: 'Invoice attached.' }).expect(
      202,
    );
    const { body } = fake.received[0];
    expect(body.headers ?? {}).to.deep.equal({});
    expect(body.mail_settings).to.deep.equal({ bypass_unsubscribe_management: { enable: true } });
    expect(body.tracking_settings).to.deep.equal({ subscription_tracking: { enable: false } });
  });

  it('answers a denial with 422 and exactly {status, reason}, and SendGrid never hears of it', async () => {
    const c = await contact();
    await setPreferences(t.ctx, system, c.id, [{ channel: 'email', topic: null, status: 'unsubscribed' }]);
    const res = await send(marketing(c.email)).expect(422);
    expect(res.body).to.deep.equal({ status: 'suppressed', reason: 'unsubscribed_all' });
    await send(marketing(uniqueEmail('stranger'))).expect(422, {
      status: 'suppressed',
      reason: 'unknown_recipient',
    });
    expect(fake.received).to.deep.equal([]);
  });

  it('retries 429 and 503, then sends', async () => {
    const c = await contact();
    fake.queue.push(429, 503);
    const res = await send(marketing(c.email)).expect(202);
    expect(fake.received).to.have.length(1);
    const stored = await request(t.app).get(`/api/v1/messages/${res.body.id}`).set('Authorization', auth);
    expect(stored.body.attempts).to.equal(3);
  });

  it('gives up after 3 retries with 502 provider_failed and keeps the message as failed', async () => {
    const c = await contact();
    fake.queue.push(500, 500, 500, 500);
    const res = await send(marketing(c.email)).expect(502);
    expect(res.body.error.code).to.equal('provider_failed');
    const id = /: ([0-9a-f-]{36})\.$/.exec(res.body.error.message)?.[1] as string;
    const stored = await request(t.app).get(`/api/v1/messages/${id}`).set('Authorization', auth).expect(200);
    expect(stored.body).to.include({ status: 'failed', attempts: 4 });
    expect(stored.body.providerError).to.include('HTTP 500');
    expect(fake.received).to.deep.equal([]);
  });

  it('does not retry a 400 from SendGrid', async () => {
    const c = await contact();
    fake.queue.push(400);
    await send(marketing(c.email)).expect(502);
    expect(fake.queue).to.deep.equal([]);
  });

  it('honours Idempotency-Key: same body once, other body 409, failures release the key', async () => {
    const c = await contact();
    const key = `order-${uniqueEmail()}`;
    const first = await send(marketing(c.email), key).expect(202);
    const again = await send(marketing(c.email), key).expect(202);
    expect(again.body).to.deep.equal(first.body);
    expect(again.headers['idempotent-replayed']).to.equal('true');
    expect(fake.received).to.have.length(1);
    const other = await send(marketing(c.email, { subject: 'Different' }), key).expect(409);
    expect(other.body.error.code).to.equal('conflict');

    const key2 = `retry-${uniqueEmail()}`;
    fake.queue.push(500, 500, 500, 500);
    await send(marketing(c.email), key2).expect(502);
    await send(marketing(c.email), key2).expect(202);
    await send({ ...marketing(c.email), topic: 'nope' }, `bad-${key2}`).expect(400);
    await send(marketing(c.email), 'x'.repeat(256)).expect(400);
  });

  it('refuses marketing without a visible unsubscribe link, and other bad input, with 400 details', async () => {
    const c = await contact();
    const noLink = await send(marketing(c.email, { html: '<p>Buy now</p>' })).expect(400);
    expect(noLink.body.error.details).to.deep.equal([
      { field: 'html', message: 'has no {{unsubscribe_url}}' },
    ]);
    // header injection: line breaks in single-line fields are refused before anything else
    const injected = await send({
      ...marketing(c.email),
      subject: 'a\nBcc: x@y.z',
      from: 'x\r\n<a@b.c>',
    }).expect(400);
    expect(injected.body.error.details.map((d: { field: string }) => d.field).sort()).to.deep.equal([
      'from',
      'subject',
    ]);
    const bad = await send({ to: 'nope', topic: '', subject: 'a', from: 'not an address', extra: 1 }).expect(
      400,
    );
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).to.deep.equal(
      ['extra', 'from', 'text', 'to', 'topic'].sort(),
    );
    await send(marketing(c.email, { topic: 'unknown-topic' })).expect(400);
    await request(t.app).post('/api/v1/messages').send(marketing(c.email)).expect(401);
    const checkOnly = (await apiKeyFor(t, ['check'])).auth;
    await request(t.app)
      .post('/api/v1/messages')
      .set('Authorization', checkOnly)
      .send(marketing(c.email))
      .expect(403);
    expect(fake.received).to.deep.equal([]);
  });

  it('batch: decides and answers per recipient, in order', async () => {
    const a = await contact();
    const b = await contact();
    await setPreferences(t.ctx, system, b.id, [
      { channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
    ]);
    const res = await request(t.app)
      .post('/api/v1/messages/batch')
      .set('Authorization', auth)
      .send({
        messages: [
          marketing(a.email),
          marketing(b.email),
          { to: a.email },
          marketing(a.email, { html: 'no link' }),
        ],
      })
      .expect(200);
    expect(res.body.results.map((r: { status: string }) => r.status)).to.deep.equal([
      'sent',
      'suppressed',
      'invalid',
      'invalid',
    ]);
    expect(res.body.results[1].reason).to.equal('unsubscribed_topic');
    expect(fake.received).to.have.length(1);
    await request(t.app)
      .post('/api/v1/messages/batch')
      .set('Authorization', auth)
      .send({ messages: [] })
      .expect(400);
    await request(t.app)
      .post('/api/v1/messages/batch')
      .set('Authorization', auth)
      .send({ messages: Array.from({ length: 1001 }, () => marketing(a.email)) })
      .expect(400);
  });

  it('without SENDGRID_API_KEY keeps messages in the local outbox, listed by the CLI', async function () {
    this.timeout(60_000);
    const local = await testApp();
    const localAuth = (await apiKeyFor(local, ['send'])).auth;
    const c = await contact();
    const res = await request(local.app)
      .post('/api/v1/messages')
      .set('Authorization', localAuth)
      .send(marketing(c.email))
      .expect(202);
    const stored = await request(local.app)
      .get(`/api/v1/messages/${res.body.id}`)
      .set('Authorization', localAuth);
    expect(stored.body).to.include({ transport: 'outbox', status: 'sent' });
    expect(stored.body.html).to.include('/u/');
    expect(fake.received).to.deep.equal([]);
    await request(local.app).get('/api/v1/messages/not-a-uuid').set('Authorization', localAuth).expect(404);
    if (t.db.kind === 'pg') {
      const out = runCli(
        ['outbox:list', '--limit', '5'],
        baseEnv({ DATABASE_URL: process.env.DATABASE_URL }),
      );
      expect(out.code, out.stderr).to.equal(0);
      expect(out.stdout).to.include(res.body.id);
      expect(out.stdout).to.include('List-Unsubscribe: <https://');
    }
  });
});

describe('mail gateway recovery', () => {
  let fake: FakeSendGrid;
  let t: TestApp;
  let auth: string;
  let keyId: string;
  before(async () => {
    fake = await startFakeSendGrid();
    t = await testApp({
      env: {
        SENDGRID_API_KEY: 'SG.test-key',
        SENDGRID_API_URL: fake.url,
        MAIL_FROM: 'News <news@example.com>',
      },
    });
    const k = await apiKeyFor(t, ['send']);
    auth = k.auth;
    keyId = k.id;
  });
  after(() => fake.close());

  async function people(n: number) {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const email = uniqueEmail('rec');
      await upsertContact(t.ctx, system, email, {});
      out.push(email);
    }
    return out;
  }
  const message = (to: string) => ({ to, topic: 'account', subject: 'Your invoice', text: 'Attached.' });

  it('takes over a key whose request stopped, once its lease lapsed, and never sends twice what was handed over', async () => {
    const [a, b, c] = await people(3);
    const key = `batch-${uniqueEmail('k')}`;
    const list = [message(a), message(b), message(c)];
    const { requestHash } = await import('../../server/mail/idempotency.ts');
    // what a process killed mid-batch leaves: its claim (lease lapsed), the first message handed
    // to SendGrid but unconfirmed (pending), the second confirmed (sent), the third never tried
    await t.db.knex('idempotency_keys').insert({
      api_key_id: keyId,
      key,
      request_hash: requestHash('batch', list),
      lease_until: new Date(Date.now() - 1000),
    });
    const row = (to: string, index: number, status: string) => ({
      api_key_id: keyId,
      to_email: to,
      from_email: 'news@example.com',
      topic: 'account',
      subject: 'Your invoice',
      status,
      transport: 'sendgrid',
      idempotency_key: key,
      request_index: index,
    });
    const [pending] = await t.db
      .knex('messages')
      .insert(row(a, 0, 'pending'))
      .returning('id');
    const [sent] = await t.db
      .knex('messages')
      .insert(row(b, 1, 'sent'))
      .returning('id');
    fake.received.length = 0;
    const res = await request(t.app)
      .post('/api/v1/messages/batch')
      .set('Authorization', auth)
      .set('Idempotency-Key', key)
      .send({ messages: list })
      .expect(200);
    expect(res.body.results.map((r: { status: string }) => r.status)).to.deep.equal([
      'pending',
      'sent',
      'sent',
    ]);
    expect(res.body.results[0].id).to.equal(pending.id);
    expect(res.body.results[1].id).to.equal(sent.id);
    expect(
      fake.received.map((m) => (m.body.personalizations as { to: { email: string }[] }[])[0].to[0].email),
    ).to.deep.equal([c]);
    // and the stored answer replays
    const again = await request(t.app)
      .post('/api/v1/messages/batch')
      .set('Authorization', auth)
      .set('Idempotency-Key', key)
      .send({ messages: list })
      .expect(200);
    expect(again.headers['idempotent-replayed']).to.equal('true');
    expect(fake.received).to.have.length(1);
  });

  it('answers 409 with how long to wait while a live request holds the key', async () => {
    const [a] = await people(1);
    const key = `live-${uniqueEmail('k')}`;
    const { requestHash } = await import('../../server/mail/idempotency.ts');
    const { readMessage } = await import('../../server/mail/rules.ts');
    const read = readMessage(message(a));
    if (!read.ok) throw new Error('bad message');
    await t.db.knex('idempotency_keys').insert({
      api_key_id: keyId,
      key,
      request_hash: requestHash('message', read.msg),
      lease_until: new Date(Date.now() + 30_000),
    });
    const res = await request(t.app)
      .post('/api/v1/messages')
      .set('Authorization', auth)
      .set('Idempotency-Key', key)
      .send(message(a));
    expect(res.status).to.equal(409);
    expect(res.body.error.message).to.match(/Retry in \d+ s/);
  });

  it('settles a pending message from SendGrid’s processed event, and marks one nothing confirms after 15 minutes', async () => {
    const { settleStalePending } = await import('../../server/mail/service.ts');
    const [a, b] = await people(2);
    const base = {
      api_key_id: keyId,
      from_email: 'x@example.com',
      topic: 'account',
      subject: 's',
      status: 'pending',
      transport: 'sendgrid',
    };
    const [confirmed] = await t.db
      .knex('messages')
      .insert({ ...base, to_email: a })
      .returning('id');
    const [stale] = await t.db
      .knex('messages')
      .insert({ ...base, to_email: b, created_at: new Date(Date.now() - 16 * 60_000) })
      .returning('id');
    const { applySendGridEvent } = await import('../../server/mail/provider-events.ts');
    await applySendGridEvent(
      t.ctx,
      { actor: 'provider:sendgrid' },
      {
        event: 'processed',
        email: a,
        sg_event_id: `p-${confirmed.id}`,
        sg_message_id: 'abc123.filter0001',
        message_id: confirmed.id,
      },
    );
    expect(await settleStalePending(t.db.knex, new Date())).to.be.at.least(1);
    const one = await t.db.knex('messages').where({ id: confirmed.id }).first();
    expect(one).to.include({ status: 'sent', provider_message_id: 'abc123' });
    const two = await t.db.knex('messages').where({ id: stale.id }).first();
    expect(two.status).to.equal('failed');
    expect(two.provider_error).to.match(/not sent again/);
  });
});
