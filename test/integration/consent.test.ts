import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import twilio from 'twilio';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { QUEUES } from '../../server/jobs/jobs.ts';
import { signToken } from '../../server/tokens/tokens.ts';
import { apiKeyFor, type TestApp, testApp, uniqueEmail, uniqueId, uniquePhone } from '../support/app.ts';
import { startFakeSendGrid } from '../support/fake-sendgrid.ts';
import { startFakeTwilio } from '../support/fake-twilio.ts';
import { csrfOf, formOf } from '../support/forms.ts';

const system = { actor: 'system' as const };
const TWILIO_TOKEN = 'twilio-test-auth-token-0123456789';
// 15:00 UTC on a winter Wednesday: 10:00 in New York, 07:00 in Los Angeles.
const NOON_EAST = new Date('2026-01-14T15:00:00Z');

describe('phone and SMS consent', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp({ env: { TWILIO_AUTH_TOKEN: TWILIO_TOKEN, BRAND_NAME: 'Acme' }, now: () => NOON_EAST });
    auth = (await apiKeyFor(t, ['contacts', 'check'])).auth;
  });

  async function customer(
    agreement: 'signed' | 'none' | 'terminated' = 'signed',
    timeZone = 'America/New_York',
  ) {
    const account = uniqueId('acct');
    await upsertAccount(t.ctx, system, account, {
      agreement:
        agreement === 'signed'
          ? { status: 'signed', signedAt: new Date('2026-01-02T00:00:00Z'), reference: 'MSA-7' }
          : { status: agreement, signedAt: null, reference: null },
    });
    const email = uniqueEmail();
    const { contact } = await upsertContact(t.ctx, system, email, { accountExternalId: account, timeZone });
    return { email, id: contact.id as string, account };
  }
  const grant = (email: string, body: object) =>
    request(t.app)
      .post(`/api/v1/contacts/${email}/consents`)
      .set('Authorization', auth)
      .send({
        channels: ['sms'],
        method: 'web_form',
        disclosureVersion: 1,
        capturedAt: '2026-01-10T12:00:00Z',
        ip: '203.0.113.7',
        userAgent: 'Mozilla/5.0 test',
        ...body,
      });
  const check = async (channel: string, recipient: string, topic = 'offers') =>
    (
      await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', auth)
        .send({ channel, recipient, topic })
        .expect(200)
    ).body.reason;

  describe('API', () => {
    it('records web consent with its evidence for a signed customer, and the check allows', async () => {
      const c = await customer();
      const phone = uniquePhone();
      const national = `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`;
      expect(await check('sms', phone)).to.equal('unknown_recipient');
      const res = await grant(c.email, { phone: national, channels: ['sms', 'voice'] }).expect(201);
      expect(res.body.phone).to.equal(phone);
      expect(res.body.granted).to.deep.equal(['sms', 'voice']);
      const sms = res.body.consents.find((x: { channel: string }) => x.channel === 'sms');
      expect(sms).to.include({
        status: 'granted',
        method: 'web_form',
        ip: '203.0.113.7',
        userAgent: 'Mozilla/5.0 test',
      });
      expect(sms.disclosure.version).to.equal(1);
      expect(sms.disclosure.text).to.include('Consent is not a condition of any purchase');
      expect(sms.capturedAt).to.equal('2026-01-10T12:00:00.000Z');
      expect(await check('sms', phone)).to.equal('subscribed');
      expect(await check('voice', phone)).to.equal('subscribed');
      const history = await request(t.app)
        .get(`/api/v1/contacts/${c.email}/consents`)
        .set('Authorization', auth)
        .expect(200);
      expect(history.body.consents).to.have.length(2);
      const events = await t.db.knex('events').where({ contact_id: c.id, type: 'consent.granted' });
      expect(events).to.have.length(2);
      expect(JSON.stringify(events)).not.to.include(phone.slice(2));
    });

    it('refuses contacts of unsigned and terminated accounts with 409 and records nothing', async () => {
      for (const agreement of ['none', 'terminated'] as const) {
        const c = await customer(agreement);
        const res = await grant(c.email, { phone: uniquePhone() }).expect(409);
        expect(res.body.error.message).to.match(/signed agreement|terminated/);
        expect(await t.db.knex('consents').where({ contact_id: c.id })).to.deep.equal([]);
      }
    });

    it('denies with not_signed_customer at once when the agreement ends, keeping the evidence', async () => {
      const c = await customer();
      const phone = uniquePhone();
      await grant(c.email, { phone }).expect(201);
      expect(await check('sms', phone)).to.equal('subscribed');
      await upsertAccount(t.ctx, system, c.account, {
        agreement: { status: 'terminated', signedAt: null, reference: null },
      });
      expect(await check('sms', phone)).to.equal('not_signed_customer');
      expect(await check('sms', phone, 'account')).to.equal('not_signed_customer');
      expect(await t.db.knex('consents').where({ contact_id: c.id, status: 'granted' })).to.have.length(1);
    });

    it('keeps consent with the number: a new number has none, and a number held by another contact is a 409', async () => {
      const c = await customer();
      const first = uniquePhone();
      await grant(c.email, { phone: first }).expect(201);
      const second = uniquePhone();
      await request(t.app)
        .put(`/api/v1/contacts/${c.email}`)
        .set('Authorization', auth)
        .send({ phone: second })
        .expect(200);
      expect(await check('sms', second)).to.equal('no_consent');
      expect(await check('sms', first)).to.equal('unknown_recipient');
      const other = await customer();
      const taken = await grant(other.email, { phone: second }).expect(409);
      expect(taken.body.error.details[0].field).to.equal('phone');
    });

    it('revokes through the API and the very next check denies', async () => {
      const c = await customer();
      const phone = uniquePhone();
      await grant(c.email, { phone, channels: ['sms', 'voice'] }).expect(201);
      const res = await request(t.app)
        .post(`/api/v1/contacts/${c.email}/consents/revoke`)
        .set('Authorization', auth)
        .send({ phone, channels: ['sms'] })
        .expect(200);
      expect(res.body.revoked).to.deep.equal(['sms']);
      expect(await check('sms', phone)).to.equal('consent_revoked');
      expect(await check('voice', phone)).to.equal('subscribed');
      const rows = await t.db.knex('consents').where({ contact_id: c.id, channel: 'sms' });
      expect(rows[0]).to.include({ status: 'revoked', revoked_method: 'api' });
    });

    it('applies quiet hours in the contact time zone: 10:00 in New York is fine, 07:00 in Los Angeles is not', async () => {
      const east = await customer('signed', 'America/New_York');
      const west = await customer('signed', 'America/Los_Angeles');
      const p1 = uniquePhone();
      const p2 = uniquePhone();
      await grant(east.email, { phone: p1 }).expect(201);
      await grant(west.email, { phone: p2 }).expect(201);
      expect(await check('sms', p1)).to.equal('subscribed');
      expect(await check('sms', p2)).to.equal('quiet_hours');
      expect(await check('sms', p2, 'account')).to.equal('operational');
    });

    it('refuses bad input with 400 and a reason: phone, missing evidence, method, channels', async () => {
      const c = await customer();
      const bad = await grant(c.email, { phone: '555-01' }).expect(400);
      expect(bad.body.error.details[0]).to.include({ field: 'phone' });
      expect(bad.body.error.message).to.match(/phone number is not valid/);
      const noIp = await grant(c.email, { phone: uniquePhone(), ip: undefined }).expect(400);
      expect(noIp.body.error.details.map((d: { field: string }) => d.field)).to.include('ip');
      const verbal = await grant(c.email, {
        phone: uniquePhone(),
        method: 'verbal',
        ip: null,
        userAgent: null,
      }).expect(400);
      expect(verbal.body.error.details.map((d: { field: string }) => d.field)).to.include('note');
      await grant(c.email, {
        phone: uniquePhone(),
        method: 'verbal',
        note: 'Call with Ann, ticket 4411',
      }).expect(201);
      await grant(c.email, { phone: uniquePhone(), channels: ['fax'] }).expect(400);
      await grant(c.email, { phone: uniquePhone(), disclosureVersion: 99 }).expect(400);
      await grant(c.email, { phone: uniquePhone(), capturedAt: 'yesterday' }).expect(400);
      await grant(uniqueEmail(), { phone: uniquePhone() }).expect(404);
    });
  });

  describe('confirmation text (CTIA)', () => {
    it('texts one confirmation through Twilio for a consent given through the API, and records a carrier opt-out without retrying', async function () {
      this.timeout(20_000);
      // Texts queued by tests that ran without a worker (earlier in this run, or in an earlier run
      // against the same database) would go out first, two at a time: dropped, so this app's
      // worker reaches this test's texts at once.
      if (await t.db.knex.schema.withSchema('pgboss').hasTable('job'))
        await t.db.knex.raw("delete from pgboss.job where name = ? and state in ('created', 'retry')", [
          QUEUES.smsConfirmation,
        ]);
      const fake = await startFakeTwilio();
      const withTwilio = await testApp({
        env: {
          TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
          TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000001',
          TWILIO_FROM: '+18005550100',
          TWILIO_API_URL: fake.url,
          BRAND_NAME: 'Acme',
        },
        jobs: true,
      });
      try {
        const key = (await apiKeyFor(withTwilio, ['contacts'])).auth;
        const grantVia = (email: string, phone: string, channels: string[]) =>
          request(withTwilio.app)
            .post(`/api/v1/contacts/${email}/consents`)
            .set('Authorization', key)
            .send({
              phone,
              channels,
              method: 'api',
              disclosureVersion: 1,
              capturedAt: '2026-01-10T12:00:00Z',
            })
            .expect(201);
        const c = await customer();
        const phone = uniquePhone();
        await grantVia(c.email, phone, ['sms', 'voice']);
        // (this app works the queue of the shared test database: other tests' texts go out too)
        const to = (n: string) => fake.received.filter((m) => m.To === n);
        for (let i = 0; i < 800 && to(phone).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
        expect(to(phone)).to.have.length(1);
        const text = to(phone)[0];
        expect(text).to.include({ To: phone, From: '+18005550100' });
        for (const part of ['Acme', 'Msg frequency varies', 'Msg & data rates may apply', 'HELP', 'STOP']) {
          expect(text.Body, part).to.include(part);
        }
        // a voice-only consent gets no text; a number opted out at the carrier is recorded once
        const v = await customer();
        const voiceOnly = uniquePhone();
        await grantVia(v.email, voiceOnly, ['voice']);
        const o = await customer();
        const optedOut = uniquePhone();
        fake.errors.push(21610);
        await grantVia(o.email, optedOut, ['sms']);
        let rows: { status: string; provider_error: string }[] = [];
        for (let i = 0; i < 800 && rows.length === 0; i++) {
          rows = await withTwilio.db.knex('text_messages').where({ to_phone: optedOut });
          if (!rows.length) await new Promise((r) => setTimeout(r, 25));
        }
        expect(rows).to.have.length(1);
        expect(rows[0]).to.include({ status: 'failed' });
        expect(rows[0].provider_error).to.match(/21610/);
        await new Promise((r) => setTimeout(r, 300));
        expect(to(optedOut)).to.deep.equal([]); // refused once, not retried
        expect(to(voiceOnly)).to.deep.equal([]);
        expect(to(phone)).to.have.length(1);
      } finally {
        await withTwilio.ctx.jobs.stop();
        await fake.close();
      }
    });
  });

  describe('telephone rules: regions, area codes, reservations', () => {
    let n = Math.floor(Math.random() * 9000);
    const floridaPhone = () => {
      n = (n + 1) % 10000;
      return `+1305${200 + Math.floor(Math.random() * 700)}${String(n).padStart(4, '0')}`;
    };
    async function floridian() {
      const c = await customer();
      const phone = floridaPhone();
      await grant(c.email, { phone, channels: ['sms'] }).expect(201);
      return { ...c, phone };
    }
    const reserve = (recipient: string, extra: object = {}) =>
      request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', auth)
        .send({ channel: 'sms', recipient, topic: 'offers', reserve: true, ...extra });

    it('takes a region on the contact and refuses one that is not ISO 3166-2', async () => {
      const c = await customer();
      const ok = await request(t.app)
        .put(`/api/v1/contacts/${c.email}`)
        .set('Authorization', auth)
        .send({ region: 'us-fl' })
        .expect(200);
      expect(ok.body.region).to.equal('US-FL');
      const bad = await request(t.app)
        .put(`/api/v1/contacts/${c.email}`)
        .set('Authorization', auth)
        .send({ region: 'Florida' })
        .expect(400);
      expect(bad.body.error.details.map((d: { field: string }) => d.field)).to.include('region');
    });

    it('lets exactly 3 of 10 concurrent reserving checks through for a Florida number and topic', async () => {
      const c = await floridian();
      const answers = await Promise.all(Array.from({ length: 10 }, () => reserve(c.phone).expect(200)));
      const allowed = answers.filter((a) => a.body.allowed);
      expect(allowed).to.have.length(3);
      expect(new Set(allowed.map((a) => a.body.reservationId)).size).to.equal(3);
      const refused = answers.filter((a) => !a.body.allowed);
      expect(refused.every((a) => a.body.reason === 'frequency_limit')).to.equal(true);
      // the first of the three ages out 24 h later, inside Florida's hours (10:00 New York)
      expect(refused[0].body.retryAfter).to.equal('2026-01-15T15:00:00.000Z');
      // a plain check reports it and writes nothing
      const before = await t.db.knex('send_records').where({ phone: c.phone }).count({ n: '*' });
      expect(await check('sms', c.phone)).to.equal('frequency_limit');
      const after = await t.db.knex('send_records').where({ phone: c.phone }).count({ n: '*' });
      expect(Number(after[0].n)).to.equal(Number(before[0].n));
      // another topic has its own count
      const events = await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', auth)
        .send({ channel: 'sms', recipient: c.phone, topic: 'events', reserve: true })
        .expect(200);
      expect(events.body.reason).to.equal('subscribed');
    });

    it('counts a retried reserve with the same reservationKey once, and a released reservation not at all', async () => {
      const c = await floridian();
      const first = await reserve(c.phone, { reservationKey: 'send-1' }).expect(200);
      const retried = await reserve(c.phone, { reservationKey: 'send-1' }).expect(200);
      expect(retried.body.reservationId).to.equal(first.body.reservationId);
      await reserve(c.phone).expect(200);
      const third = await reserve(c.phone).expect(200);
      expect(third.body.allowed).to.equal(true);
      expect((await reserve(c.phone).expect(200)).body.reason).to.equal('frequency_limit');
      await request(t.app)
        .delete(`/api/v1/send-permission/reservations/${third.body.reservationId}`)
        .set('Authorization', auth)
        .expect(204);
      await request(t.app)
        .delete(`/api/v1/send-permission/reservations/${third.body.reservationId}`)
        .set('Authorization', auth)
        .expect(404);
      expect((await reserve(c.phone).expect(200)).body.allowed).to.equal(true);
      await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', auth)
        .send({ channel: 'email', recipient: c.email, topic: 'offers', reserve: true })
        .expect(400);
    });

    it('reserves in a batch too, in order, and answers retryAfter there', async () => {
      const c = await floridian();
      const res = await request(t.app)
        .post('/api/v1/send-permission/batch')
        .set('Authorization', auth)
        .send({
          channel: 'sms',
          topic: 'offers',
          reserve: true,
          recipients: [c.phone, c.phone, c.phone, c.phone],
        })
        .expect(200);
      expect(res.body.results.map((r: { reason: string }) => r.reason)).to.deep.equal([
        'subscribed',
        'subscribed',
        'subscribed',
        'frequency_limit',
      ]);
      expect(res.body.results[3].retryAfter).to.be.a('string');
      expect(res.body.results[0].reservationId).to.be.a('string');
    });
  });

  describe('POST /webhooks/sms', () => {
    const url = 'https://prefs.example.test/webhooks/sms';
    function inbound(from: string, body: string, sid = `SM${uniqueId('x').replace(/\W/g, '')}`) {
      const params = {
        ToCountry: 'US',
        SmsMessageSid: sid,
        NumMedia: '0',
        Body: body,
        To: '+18005550100',
        MessageSid: sid,
        AccountSid: 'AC00000000000000000000000000000000',
        From: from,
        ApiVersion: '2010-04-01',
      };
      return { params, signature: twilio.getExpectedTwilioSignature(TWILIO_TOKEN, url, params) };
    }
    const post = (m: ReturnType<typeof inbound>, signature = m.signature) =>
      request(t.app).post('/webhooks/sms').set('X-Twilio-Signature', signature).type('form').send(m.params);

    async function consenting() {
      const c = await customer();
      const phone = uniquePhone();
      await grant(c.email, { phone, channels: ['sms', 'voice'] }).expect(201);
      return { ...c, phone };
    }

    it('revokes texts and calls to the number at once on STOP with one confirmation, and a replay changes nothing', async () => {
      const c = await consenting();
      const m = inbound(c.phone, 'Stop please');
      const res = await post(m).expect(200);
      expect(res.headers['content-type']).to.match(/text\/xml/);
      expect(res.text).to.include('<Message>');
      expect(res.text).to.include('Acme');
      expect(res.text).to.include('no more texts or calls');
      expect(res.text).to.include('Reply START');
      expect(await check('sms', c.phone)).to.equal('consent_revoked');
      // SMS_REVOCATION_SCOPE defaults to `number`: the FCC's revoke-all rule, 47 CFR 64.1200(a)(10)
      expect(await check('voice', c.phone)).to.equal('consent_revoked');
      const replay = await post(m).expect(200);
      expect(replay.text).not.to.include('<Message>');
      const events = await t.db
        .knex('events')
        .where({ contact_id: c.id, type: 'consent.revoked' })
        .orderBy('id');
      expect(events.map((e) => [e.channel, e.actor, e.data.scope])).to.deep.equal([
        ['sms', 'provider:sms', 'number'],
        ['voice', 'provider:sms', 'number'],
      ]);
    });

    it('with SMS_REVOCATION_SCOPE=channel a STOP ends texts only; STOPALL ends calls too', async () => {
      const c = await consenting();
      const channelScoped = await testApp({
        env: { TWILIO_AUTH_TOKEN: TWILIO_TOKEN, BRAND_NAME: 'Acme', SMS_REVOCATION_SCOPE: 'channel' },
      });
      const m = inbound(c.phone, 'STOP');
      const res = await request(channelScoped.app)
        .post('/webhooks/sms')
        .set('X-Twilio-Signature', m.signature)
        .type('form')
        .send(m.params);
      expect(res.status).to.equal(200);
      expect(res.text).to.include('no more text messages');
      expect(await check('sms', c.phone)).to.equal('consent_revoked');
      expect(await check('voice', c.phone)).to.equal('subscribed');
      await post(inbound(c.phone, 'STOPALL')).expect(200);
      expect(await check('voice', c.phone)).to.equal('consent_revoked');
    });

    for (const body of [
      'STOP',
      'stop',
      'STOP!',
      ' opt out ',
      'Unsubscribe me',
      'cancel',
      'END',
      'quit',
      'REVOKE',
      'optout',
      'PARAR',
      'Alto',
      'cancelar',
      'BAJA',
      'detener',
      'ARRET',
      'ARRÊT',
      'désabonner',
      'Please opt me out',
      'take me off your list',
      'remove me',
      'no more texts',
      'please stop sending me these messages, I did not ask for them',
    ]) {
      it(`revokes on ${JSON.stringify(body)}`, async () => {
        const c = await consenting();
        const res = await post(inbound(c.phone, body)).expect(200);
        expect(res.text).to.include('Reply START');
        expect(await check('sms', c.phone)).to.equal('consent_revoked');
      });
    }

    it("obeys Twilio's OptOutType whatever the body says, without a second reply", async () => {
      const raw = readFileSync(
        path.resolve(import.meta.dirname, '../fixtures/twilio-inbound-sms.txt'),
        'utf8',
      ).trim();
      const send = (from: string, body: string, optOutType: string) => {
        const form = new URLSearchParams(raw);
        form.set('From', from);
        form.set('Body', body);
        form.set('OptOutType', optOutType);
        form.set('MessageSid', `SM${uniqueId('o').replace(/\W/g, '')}`);
        const params = Object.fromEntries(form);
        return request(t.app)
          .post('/webhooks/sms')
          .set('X-Twilio-Signature', twilio.getExpectedTwilioSignature(TWILIO_TOKEN, url, params))
          .type('form')
          .send(form.toString())
          .expect(200);
      };
      const c = await consenting();
      // A word of a language Twilio knows and we might not: Twilio has blocked the number.
      const stop = await send(c.phone, 'Gracias, ya no quiero', 'STOP');
      expect(stop.text).not.to.include('<Message>');
      expect(await check('sms', c.phone)).to.equal('consent_revoked');
      await send(c.phone, 'hola de nuevo', 'START');
      expect(await check('sms', c.phone)).to.equal('subscribed');
      await send(c.phone, 'STOP', 'HELP');
      expect(await check('sms', c.phone)).to.equal('subscribed');
    });

    it('accepts Twilio\'s real form body (fixture) and revokes on its "Stop please"', async () => {
      const c = await consenting();
      const raw = readFileSync(
        path.resolve(import.meta.dirname, '../fixtures/twilio-inbound-sms.txt'),
        'utf8',
      ).trim();
      const form = new URLSearchParams(raw);
      form.set('From', c.phone);
      form.set('MessageSid', `SM${uniqueId('f').replace(/\W/g, '')}`);
      const params = Object.fromEntries(form);
      const res = await request(t.app)
        .post('/webhooks/sms')
        .set('X-Twilio-Signature', twilio.getExpectedTwilioSignature(TWILIO_TOKEN, url, params))
        .type('form')
        .send(form.toString())
        .expect(200);
      expect(res.text).to.include('<Message>');
      expect(await check('sms', c.phone)).to.equal('consent_revoked');
    });

    it('does not revoke on "stopwatch" or an ordinary question', async () => {
      const c = await consenting();
      for (const body of [
        'stopwatch',
        'When does my order arrive?',
        'I bought a stopwatch from your shop and it arrived at the end of last week, thanks',
        'start please',
        'Can I change the delivery address?',
      ]) {
        const res = await post(inbound(c.phone, body)).expect(200);
        expect(res.text).not.to.include('<Message>');
      }
      expect(await check('sms', c.phone)).to.equal('subscribed');
    });

    it('START restores what a keyword revoked; HELP names brand, support, rates and how to stop', async () => {
      const c = await consenting();
      await post(inbound(c.phone, 'STOP')).expect(200);
      const start = await post(inbound(c.phone, 'start')).expect(200);
      expect(start.text).to.include('resubscribed');
      expect(await check('sms', c.phone)).to.equal('subscribed');
      const help = await post(inbound(c.phone, 'HELP')).expect(200);
      expect(help.text).to.include('Acme');
      expect(help.text).to.include('https://prefs.example.test/preferences');
      expect(help.text).to.include('Msg &amp; data rates may apply');
      expect(help.text).to.include('Reply STOP to cancel');
      expect(help.text).not.to.match(/offer|discount|sale/i);
    });

    it('START does not bring back consent revoked another way', async () => {
      const c = await consenting();
      await request(t.app)
        .post(`/api/v1/contacts/${c.email}/consents/revoke`)
        .set('Authorization', auth)
        .send({ phone: c.phone, channels: ['sms'] })
        .expect(200);
      const res = await post(inbound(c.phone, 'UNSTOP')).expect(200);
      expect(res.text).to.include('no text subscription to restore');
      expect(await check('sms', c.phone)).to.equal('consent_revoked');
    });

    it('refuses forged, missing or wrong-URL signatures with 403 and changes nothing', async () => {
      const c = await consenting();
      const m = inbound(c.phone, 'STOP');
      await post(m, 'bm90IGEgc2lnbmF0dXJl').expect(403);
      await request(t.app).post('/webhooks/sms').type('form').send(m.params).expect(403);
      const internal = twilio.getExpectedTwilioSignature(
        TWILIO_TOKEN,
        'http://127.0.0.1:3000/webhooks/sms',
        m.params,
      );
      await post(m, internal).expect(403);
      await post({ ...m, params: { ...m.params, Body: 'START' } }).expect(403);
      expect(await check('sms', c.phone)).to.equal('subscribed');
      const unconfigured = (await testApp()).app;
      await request(unconfigured)
        .post('/webhooks/sms')
        .set('X-Twilio-Signature', m.signature)
        .type('form')
        .send(m.params)
        .expect(403);
    });
  });

  describe('preference page', () => {
    it('captures consent with unticked boxes and the disclosure, and revokes with a button', async () => {
      const c = await customer();
      const phone = uniquePhone();
      const token = signToken(t.ctx.config.tokenKeys, {
        purpose: 'preferences',
        contactId: c.id,
        topic: null,
      });
      const page = await request(t.app).get(`/preferences/${token}`).expect(200);
      expect(page.text).to.include('value="sms" aria-describedby="disclosure-sms">');
      expect(page.text).not.to.match(/name="consent" value="\w+"[^>]*checked/);
      expect(page.text).to.include('Msg &amp; data rates may apply');
      expect(page.text).to.include('Consent is not a condition of any purchase.');
      const csrf = csrfOf(page.text);
      const asked = await request(t.app)
        .post(`/preferences/${token}/consent`)
        .set('User-Agent', 'Phone browser')
        .type('form')
        .send({ csrf, phone, consent: 'sms', 'disclosure:sms': '1', 'disclosure:voice': '1' })
        .expect(303);
      // nothing is recorded until the number is confirmed with the code texted to it
      expect(asked.headers.location).to.match(
        new RegExp(`^/preferences/${token}/confirm-phone/[0-9a-f-]{36}$`),
      );
      expect(await t.db.knex('consents').where({ contact_id: c.id })).to.deep.equal([]);
      const confirm = await request(t.app).get(asked.headers.location).expect(200);
      expect(confirm.text).to.include(`ending in ${phone.slice(-4)}`);
      const saved = await request(t.app)
        .post(asked.headers.location)
        .type('form')
        .send({ csrf: csrfOf(confirm.text), code: await codeTo(phone) })
        .expect(303);
      expect(saved.headers.location).to.equal(`/preferences/${token}?consent=granted#phone`);
      const row = await t.db.knex('consents').where({ contact_id: c.id }).first();
      expect(row).to.include({
        channel: 'sms',
        method: 'web_form',
        user_agent: 'Phone browser',
        captured_by: 'recipient',
      });
      expect(row.ip).to.be.a('string');
      expect(await check('sms', phone)).to.equal('subscribed');
      const after = await request(t.app).get(`/preferences/${token}?consent=granted`).expect(200);
      expect(after.text).to.include('Thank you: your consent is recorded.');
      expect(after.text).to.include(`ending in ${phone.slice(-4)}`);
      await request(t.app)
        .post(`/preferences/${token}/consent/revoke`)
        .type('form')
        .send({ csrf: csrfOf(after.text), channel: 'sms' })
        .expect(303);
      expect(await check('sms', phone)).to.equal('consent_revoked');
      await request(t.app)
        .post(`/preferences/${token}/consent`)
        .type('form')
        .send({ phone, consent: 'sms' })
        .expect(403);
    });

    it('keeps every change of the one form when consent is given or revoked with it', async () => {
      const c = await customer();
      const phone = uniquePhone();
      const token = signToken(t.ctx.config.tokenKeys, {
        purpose: 'preferences',
        contactId: c.id,
        topic: null,
      });
      const page = await request(t.app).get(`/preferences/${token}`).expect(200);
      const form = formOf(page.text);
      form.delete('topic', 'email:newsletter'); // a topic changed on the same page
      form.set('name', 'Casey Consent');
      form.set('phone', phone);
      form.append('consent', 'sms');
      form.set('intent', 'consent');
      const asked = await request(t.app)
        .post(`/preferences/${token}`)
        .type('form')
        .send(form.toString())
        .expect(303);
      expect(asked.headers.location).to.match(/\/confirm-phone\//);
      expect(await check('email', c.email, 'newsletter')).to.equal('unsubscribed_topic');
      expect((await t.db.knex('contacts').where({ id: c.id }).first()).name).to.equal('Casey Consent');
      const confirm = await request(t.app).get(asked.headers.location).expect(200);
      await request(t.app)
        .post(asked.headers.location)
        .type('form')
        .send({ csrf: csrfOf(confirm.text), code: await codeTo(phone) })
        .expect(303);
      expect(await check('sms', phone)).to.equal('subscribed');

      // the revoke button is part of the same form: what else changed is saved with it
      const again = await request(t.app).get(`/preferences/${token}`).expect(200);
      const second = formOf(again.text);
      second.delete('topic', 'email:offers');
      second.set('revoke', 'sms');
      const revoked = await request(t.app)
        .post(`/preferences/${token}`)
        .type('form')
        .send(second.toString())
        .expect(303);
      expect(revoked.headers.location).to.equal(`/preferences/${token}?consent=revoked#phone`);
      expect(await check('sms', phone)).to.equal('consent_revoked');
      expect(await check('email', c.email, 'offers')).to.equal('unsubscribed_topic');
    });

    /** The newest code texted to a number (the local outbox: no Twilio in these tests). */
    async function codeTo(phone: string) {
      const row = await t.db
        .knex('text_messages')
        .where({ to_phone: phone, kind: 'confirmation_code' })
        .orderBy('created_at', 'desc')
        .first('body');
      return /code is (\d{6})/.exec(row?.body ?? '')?.[1] ?? '';
    }
    async function askCode(token: string, phone: string) {
      const page = await request(t.app).get(`/preferences/${token}`).expect(200);
      return request(t.app)
        .post(`/preferences/${token}/consent`)
        .type('form')
        .send({ csrf: csrfOf(page.text), phone, consent: 'sms', 'disclosure:sms': '1' })
        .expect(303);
    }
    const prefsToken = (id: string) =>
      signToken(t.ctx.config.tokenKeys, { purpose: 'preferences', contactId: id, topic: null });
    const submitCode = async (path: string, code: string) => {
      const form = await request(t.app).get(path);
      return request(t.app)
        .post(path)
        .type('form')
        .send({ csrf: csrfOf(form.text), code });
    };

    it('refuses a wrong code (5 tries at most) and records nothing', async () => {
      const c = await customer();
      const phone = uniquePhone();
      const asked = await askCode(prefsToken(c.id), phone);
      const right = await codeTo(phone);
      const wrong = right === '000000' ? '111111' : '000000';
      const first = await submitCode(asked.headers.location, wrong);
      expect(first.status).to.equal(400);
      expect(first.text).to.include('That code is not right.');
      for (let i = 0; i < 4; i++) await submitCode(asked.headers.location, wrong);
      // locked after five wrong tries: even the right code no longer works
      const late = await submitCode(asked.headers.location, right);
      expect(late.headers.location).to.include('consent=too_many');
      expect(await t.db.knex('consents').where({ contact_id: c.id })).to.deep.equal([]);
    });

    it('refuses an expired code, and a code used twice records once', async () => {
      let clock = NOON_EAST;
      const later = await testApp({ env: { TWILIO_AUTH_TOKEN: TWILIO_TOKEN }, now: () => clock });
      const c = await customer();
      const phone = uniquePhone();
      const token = prefsToken(c.id);
      const page = await request(later.app).get(`/preferences/${token}`);
      const asked = await request(later.app)
        .post(`/preferences/${token}/consent`)
        .type('form')
        .send({ csrf: csrfOf(page.text), phone, consent: 'sms', 'disclosure:sms': '1' })
        .expect(303);
      const code = await codeTo(phone);
      clock = new Date(NOON_EAST.getTime() + 10 * 60_000 + 1000);
      const form = await request(later.app).get(`/preferences/${token}`);
      const expired = await request(later.app)
        .post(asked.headers.location)
        .type('form')
        .send({ csrf: csrfOf(form.text), code });
      expect(expired.headers.location).to.include('consent=expired');
      clock = NOON_EAST;
      const again = await request(t.app)
        .post(`/preferences/${token}/consent`)
        .type('form')
        .send({ csrf: csrfOf(page.text), phone, consent: 'sms', 'disclosure:sms': '1' });
      const fresh = await codeTo(phone);
      const ok = await submitCode(again.headers.location, fresh);
      expect(ok.headers.location).to.include('consent=granted');
      const prefs = await request(t.app).get(`/preferences/${token}`);
      const twice = await request(t.app)
        .post(again.headers.location)
        .type('form')
        .send({ csrf: csrfOf(prefs.text), code: fresh });
      expect(twice.status).to.equal(303);
      expect(twice.headers.location).to.include('consent=expired');
      expect(await t.db.knex('consents').where({ contact_id: c.id })).to.have.length(1);
    });

    it('texts at most 3 codes per number per hour', async () => {
      const phone = uniquePhone();
      const answers: string[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await customer();
        answers.push((await askCode(prefsToken(c.id), phone)).headers.location);
      }
      expect(answers.slice(0, 3).every((l) => l.includes('/confirm-phone/'))).to.equal(true);
      expect(answers[3]).to.include('consent=too_many');
    });

    it('answers the same for a number another contact holds, and moves it once proved (number_reassigned)', async () => {
      const holder = await customer();
      const phone = uniquePhone();
      await grant(holder.email, { phone, channels: ['sms', 'voice'] }).expect(201);
      const c = await customer();
      const asked = await askCode(prefsToken(c.id), phone);
      expect(asked.headers.location).to.match(/\/confirm-phone\//); // no word about the holder
      const ok = await submitCode(asked.headers.location, await codeTo(phone));
      expect(ok.headers.location).to.include('consent=granted');
      const revoked = await t.db.knex('consents').where({ contact_id: holder.id }).orderBy('channel');
      expect(revoked.map((r) => [r.channel, r.status, r.revoked_method])).to.deep.equal([
        ['sms', 'revoked', 'number_reassigned'],
        ['voice', 'revoked', 'number_reassigned'],
      ]);
      expect((await t.db.knex('contacts').where({ id: holder.id }).first()).phone).to.equal(null);
      expect((await t.db.knex('contacts').where({ id: c.id }).first()).phone).to.equal(phone);
      expect(await check('sms', phone)).to.equal('subscribed');
    });

    it('records nothing when no box is ticked or the number is bad', async () => {
      const c = await customer();
      const token = signToken(t.ctx.config.tokenKeys, {
        purpose: 'preferences',
        contactId: c.id,
        topic: null,
      });
      const csrf = csrfOf((await request(t.app).get(`/preferences/${token}`)).text);
      const none = await request(t.app)
        .post(`/preferences/${token}/consent`)
        .type('form')
        .send({ csrf, phone: uniquePhone() });
      expect(none.headers.location).to.include('consent=none');
      const bad = await request(t.app)
        .post(`/preferences/${token}/consent`)
        .type('form')
        .send({ csrf, phone: '12', consent: 'sms', 'disclosure:sms': '1' });
      expect(bad.headers.location).to.include('consent=phone_invalid');
      expect(await t.db.knex('consents').where({ contact_id: c.id })).to.deep.equal([]);
    });
  });

  it('never sends a phone number or consent data to SendGrid', async () => {
    const fake = await startFakeSendGrid();
    try {
      const gw = await testApp({ env: { SENDGRID_API_KEY: 'SG.k', SENDGRID_API_URL: fake.url } });
      const sendAuth = (await apiKeyFor(gw, ['send'])).auth;
      const c = await customer();
      const phone = uniquePhone();
      await grant(c.email, { phone, channels: ['sms', 'voice'] }).expect(201);
      for (const topic of ['newsletter', 'account']) {
        await request(gw.app)
          .post('/api/v1/messages')
          .set('Authorization', sendAuth)
          .send({ to: c.email, topic, subject: 'Hi', text: 'Hello {{unsubscribe_url}} {{preferences_url}}' })
          .expect(202);
      }
      const sent = JSON.stringify(fake.received);
      expect(fake.received).to.have.length(2);
      for (const secret of [
        phone,
        phone.slice(2),
        phone.slice(-7),
        'consent',
        'web_form',
        '203.0.113.7',
        'MSA-7',
      ]) {
        expect(sent).not.to.include(secret);
      }
    } finally {
      await fake.close();
    }
  });
});
