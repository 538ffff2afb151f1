// Outbound webhooks (SPEC "Outbound webhooks"): signed with the Standard Webhooks headers, in
// feed order, at least once, retried on failure, paused (never skipping) after the retry window.
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { grantConsent } from '../../server/consent/service.ts';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { createEndpoint, urlProblem } from '../../server/webhooks/service.ts';
import { apiKeyFor, type TestApp, testApp, uniqueEmail, uniqueId, uniquePhone } from '../support/app.ts';
import { startReceiver } from '../support/webhook-receiver.ts';

const system = { actor: 'system' as const };

describe('outbound webhooks', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t)).auth;
  });
  const api = () => request(t.app);
  const optOut = (email: string) =>
    api().post(`/api/v1/contacts/${email}/unsubscribe`).set('Authorization', auth).send({}).expect(200);
  /** Rounds until the dispatcher has nothing more to send now. */
  async function drain() {
    for (let i = 0; i < 50; i++) if ((await t.ctx.webhooks.tick()) === 0) return;
  }
  async function endpoint(url: string, events: string[] = ['*']) {
    const res = await api()
      .post('/api/v1/webhooks')
      .set('Authorization', auth)
      .send({ url, events })
      .expect(201);
    expect(res.body.secret).to.match(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    return res.body as { id: string; secret: string };
  }
  const removeAll = () => t.db.knex('webhook_endpoints').del();
  beforeEach(removeAll);
  after(removeAll);

  it('delivers each subscribed event once, in order, signed so the standardwebhooks library verifies it', async () => {
    const r = await startReceiver();
    try {
      const ep = await endpoint(r.url, ['contact.created', 'preference.changed']);
      const email = uniqueEmail('hook');
      await upsertContact(t.ctx, system, email, {});
      await optOut(email);
      await drain();
      const wh = new Webhook(ep.secret);
      const events = r.got.map(
        (g) => wh.verify(g.body, g.headers as Record<string, string>) as Record<string, unknown>,
      );
      const mine = events.filter((e) => e.email === email);
      expect(mine.map((e) => e.type)).to.deep.equal([
        'contact.created',
        'preference.changed',
        'preference.changed',
        'preference.changed',
      ]);
      expect(mine.every((e) => typeof e.cursor === 'string')).to.equal(true);
      expect(r.got[0].headers['webhook-id']).to.equal(String(events[0].id));
      // nothing the endpoint did not subscribe to, and nothing twice
      expect(events.every((e) => e.type === 'contact.created' || e.type === 'preference.changed')).to.equal(
        true,
      );
      expect(new Set(events.map((e) => e.id)).size).to.equal(events.length);
      const list = await api().get('/api/v1/webhooks').set('Authorization', auth).expect(200);
      expect(list.body.webhooks[0]).to.include({ id: ep.id, state: 'active' });
      expect(list.body.webhooks[0]).to.not.have.property('secret');
    } finally {
      await r.close();
    }
  });

  it('retries a failing receiver (at once, 5 s, 30 s, …) and delivers once it recovers, skipping nothing', async () => {
    const r = await startReceiver();
    try {
      const ep = await endpoint(r.url, ['preference.changed']);
      const email = uniqueEmail('retry');
      await upsertContact(t.ctx, system, email, {});
      r.statuses.push(500, 503);
      await optOut(email);
      await drain();
      let row = await t.db.knex('webhook_endpoints').where({ id: ep.id }).first();
      expect(row.attempts).to.equal(1);
      expect(new Date(row.next_attempt_at).getTime() - Date.now()).to.be.within(3_000, 6_000);
      const due = () =>
        t.db.knex('webhook_endpoints').where({ id: ep.id }).update({ next_attempt_at: new Date() });
      await due();
      await drain();
      row = await t.db.knex('webhook_endpoints').where({ id: ep.id }).first();
      expect(row.attempts).to.equal(2);
      expect(new Date(row.next_attempt_at).getTime() - Date.now()).to.be.within(25_000, 31_000);
      await due();
      await drain();
      const delivered = r.got.slice(2).map((g) => JSON.parse(g.body));
      expect(delivered.filter((e) => e.email === email)).to.have.length(3);
      expect(r.got.slice(0, 2).map((g) => JSON.parse(g.body).id)).to.deep.equal([
        delivered[0].id,
        delivered[0].id,
      ]);
      const log = await api().get(`/api/v1/webhooks/${ep.id}`).set('Authorization', auth).expect(200);
      expect(log.body.deliveries.map((d: { status: number }) => d.status).reverse()).to.deep.equal([
        500, 503, 204, 204, 204,
      ]);
    } finally {
      await r.close();
    }
  });

  it('pauses an endpoint still failing after 3 days at its place, and resumes from there', async () => {
    const r = await startReceiver();
    try {
      const ep = await endpoint(r.url, ['preference.changed']);
      const email = uniqueEmail('pause');
      await upsertContact(t.ctx, system, email, {});
      await t.db
        .knex('webhook_endpoints')
        .where({ id: ep.id })
        .update({ failing_since: new Date(Date.now() - 3 * 24 * 3600_000 - 60_000), attempts: 12 });
      r.statuses.push(500);
      await optOut(email);
      await drain();
      const paused = await api().get(`/api/v1/webhooks/${ep.id}`).set('Authorization', auth).expect(200);
      expect(paused.body.state).to.equal('paused');
      await optOut(uniqueEmail('none')).catch(() => {}); // (an unknown contact: 404, nothing new)
      await drain();
      expect(r.got).to.have.length(1); // nothing sent while paused
      await api().post(`/api/v1/webhooks/${ep.id}/resume`).set('Authorization', auth).expect(200);
      await drain();
      const events = r.got.map((g) => JSON.parse(g.body));
      expect(events[1].id).to.equal(events[0].id); // the one it paused on, first
      expect(events.slice(1).filter((e) => e.email === email)).to.have.length(3);
    } finally {
      await r.close();
    }
  });

  it('replays from a cursor, and signs with both secrets while a rolled one overlaps', async () => {
    const r = await startReceiver();
    try {
      const ep = await endpoint(r.url, ['contact.created']);
      const email = uniqueEmail('roll');
      await upsertContact(t.ctx, system, email, {});
      await drain();
      const first = JSON.parse(r.got[0].body);
      const rolled = await api()
        .post(`/api/v1/webhooks/${ep.id}/roll-secret`)
        .set('Authorization', auth)
        .expect(200);
      expect(rolled.body.secret).to.not.equal(ep.secret);
      // back to just before the first event: it comes again, signed with both secrets
      const before = await t.db.knex.raw('select max(seq) as s from event_feed f where f.event_id < ?', [
        first.id,
      ]);
      await api()
        .post(`/api/v1/webhooks/${ep.id}/replay`)
        .set('Authorization', auth)
        .send({ after: `f1.${before.rows[0].s}` })
        .expect(200);
      await drain();
      const again = r.got[r.got.length - 1];
      expect(JSON.parse(again.body).id).to.equal(first.id);
      expect(String(again.headers['webhook-signature']).split(' ')).to.have.length(2);
      for (const secret of [ep.secret, rolled.body.secret]) {
        expect(() =>
          new Webhook(secret).verify(again.body, again.headers as Record<string, string>),
        ).to.not.throw();
      }
    } finally {
      await r.close();
    }
  });

  it('sends phone numbers only to an endpoint marked first-party', async () => {
    const r = await startReceiver();
    try {
      const ep = await endpoint(r.url, ['consent.granted']);
      const account = uniqueId('acct');
      await upsertAccount(t.ctx, system, account, {
        agreement: { status: 'signed', signedAt: new Date('2026-01-01T00:00:00Z'), reference: 'MSA' },
      });
      const { contact } = await upsertContact(t.ctx, system, uniqueEmail('fp'), {
        accountExternalId: account,
      });
      const phone = uniquePhone();
      await grantConsent(t.ctx, system, contact.id, { phone, channels: ['sms'], method: 'api' });
      await drain();
      expect(JSON.parse(r.got[0].body)).to.not.have.property('phone');
      await t.db.knex('webhook_endpoints').where({ id: ep.id }).update({ first_party: true });
      await grantConsent(t.ctx, system, contact.id, { phone, channels: ['voice'], method: 'api' });
      await drain();
      expect(JSON.parse(r.got[1].body).phone).to.equal(phone);
    } finally {
      await r.close();
    }
  });

  it('refuses http and private URLs in production, unless WEBHOOK_ALLOW_PRIVATE_URLS', async () => {
    const prod = { production: true, allowPrivate: false };
    for (const url of [
      'http://hooks.example.com/x',
      'https://127.0.0.1/x',
      'https://10.1.2.3/x',
      'https://192.168.0.10/x',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/x',
      'https://localhost/x',
      'ftp://example.com/x',
    ]) {
      expect(await urlProblem(url, prod), url).to.be.a('string');
    }
    expect(await urlProblem('https://93.184.216.34/x', prod)).to.equal(null);
    expect(await urlProblem('https://10.1.2.3/x', { production: true, allowPrivate: true })).to.equal(null);
    let refused = '';
    try {
      await createEndpoint(t.ctx, system, { url: 'https://127.0.0.1/x', events: ['*'] }, prod);
    } catch (err) {
      refused = (err as Error).message;
    }
    expect(refused).to.match(/loopback/);
    await api()
      .post('/api/v1/webhooks')
      .set('Authorization', auth)
      .send({ url: 'https://x.example', events: ['nonsense'] })
      .expect(400);
  });
});
