// SPEC "Input hygiene": every bad input is a 400 that names the field, never a 500 and never a
// partial write; provider bodies are the exception (cleaned and applied, see their own tests).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import request from 'supertest';
import { createStaffUser } from '../../server/admin/staff.ts';
import { grantConsent } from '../../server/consent/service.ts';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { apiKeyFor, type TestApp, testApp, uniqueEmail, uniqueId, uniquePhone } from '../support/app.ts';

const system = { actor: 'system' as const };

describe('input hygiene', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t)).auth;
  });
  const api = (method: 'post' | 'put' | 'get', url: string) =>
    request(t.app)[method](url).set('Authorization', auth);
  const fieldsOf = (res: request.Response) =>
    (res.body.error?.details ?? []).map((d: { field?: string }) => d.field);

  describe('U+0000 and other control characters', () => {
    it('answers the check and the batch with 400 naming the field', async () => {
      const c = uniqueEmail();
      const one = await api('post', '/api/v1/send-permission')
        .send({ channel: 'email', recipient: `a\u0000${c}`, topic: 'newsletter' })
        .expect(400);
      expect(fieldsOf(one)).to.include('recipient');
      const topic = await api('post', '/api/v1/send-permission')
        .send({ channel: 'email', recipient: c, topic: 'news\u0000letter' })
        .expect(400);
      expect(fieldsOf(topic)).to.include('topic');
      const batch = await api('post', '/api/v1/send-permission/batch')
        .send({ channel: 'email', topic: 'newsletter', recipients: [c, `x\u0000@example.com`] })
        .expect(400);
      expect(fieldsOf(batch)).to.include('recipients[1]');
    });

    it('answers a stream line holding a NUL with an error line and answers the rest', async () => {
      const lines = Array.from({ length: 3000 }, (_, i) => `s${i}.${uniqueId('n')}@example.com`);
      lines[2500] = `bad\u0000line@example.com`;
      const res = await api('post', '/api/v1/send-permission/stream?channel=email&topic=newsletter')
        .set('Content-Type', 'text/plain')
        .send(lines.join('\n'))
        .expect(200);
      const out = res.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(out).to.have.length(3000);
      expect(out[2500]).to.have.property('error');
      expect(out[2499]).to.include({ reason: 'unknown_recipient' });
      expect(out[2999]).to.include({ reason: 'unknown_recipient' });
    });

    it('answers contact and account fields with 400 naming the field, and writes nothing', async () => {
      const email = uniqueEmail();
      const path = await api('put', `/api/v1/contacts/a%00${email}`).send({}).expect(400);
      expect(fieldsOf(path)).to.include('path');
      const name = await api('put', `/api/v1/contacts/${email}`).send({ name: 'Ann\u0000' }).expect(400);
      expect(fieldsOf(name)).to.deep.equal(['name']);
      const tab = await api('put', `/api/v1/contacts/${email}`).send({ name: 'Ann\nBcc' }).expect(400);
      expect(fieldsOf(tab)).to.deep.equal(['name']);
      await api('get', `/api/v1/contacts/${email}`).expect(404);
      const acct = await api('put', `/api/v1/accounts/acme%00${uniqueId('a')}`)
        .send({ name: 'A' })
        .expect(400);
      expect(fieldsOf(acct)).to.include('path');
      const acctName = await api('put', `/api/v1/accounts/${uniqueId('a')}`)
        .send({ name: 'Acme\u0007', agreement: { status: 'none' } })
        .expect(400);
      expect(fieldsOf(acctName)).to.deep.equal(['name']);
      const query = await api(
        'get',
        `/api/v1/events?contact=${encodeURIComponent(`a\u0000${email}`)}`,
      ).expect(400);
      expect(fieldsOf(query)).to.include('contact');
    });
  });

  describe('numbers, dates and nesting out of range', () => {
    it('answers dates the database could not take, or no calendar has, with 400', async () => {
      for (const signedAt of [
        '99999-01-01',
        '+275760-09-13T00:00:00Z',
        '2026-02-30',
        '1066-10-14',
        '2026-13-01',
      ]) {
        const res = await api('put', `/api/v1/accounts/${uniqueId('d')}`)
          .send({ agreement: { status: 'signed', signedAt, reference: 'MSA' } })
          .expect(400);
        expect(fieldsOf(res), signedAt).to.include('agreement.signedAt');
      }
      await api('get', '/api/v1/events?since=99999-01-01').expect(400);
      await api('get', '/api/v1/events?until=2026-02-30').expect(400);
    });

    it('answers a disclosure version or a capture time out of range with 400 and records nothing', async () => {
      const account = uniqueId('acct');
      await upsertAccount(t.ctx, system, account, {
        agreement: { status: 'signed', signedAt: new Date('2026-01-01T00:00:00Z'), reference: 'MSA' },
      });
      const email = uniqueEmail();
      await upsertContact(t.ctx, system, email, { accountExternalId: account });
      const grant = (extra: object) =>
        api('post', `/api/v1/contacts/${email}/consents`).send({
          phone: uniquePhone(),
          channels: ['sms'],
          method: 'api',
          disclosureVersion: 1,
          capturedAt: '2026-01-10T12:00:00Z',
          ...extra,
        });
      expect(fieldsOf(await grant({ disclosureVersion: 1e12 }).expect(400))).to.include('disclosureVersion');
      expect(fieldsOf(await grant({ disclosureVersion: 2 ** 31 }).expect(400))).to.include(
        'disclosureVersion',
      );
      expect(fieldsOf(await grant({ capturedAt: '+275760-09-13T00:00:00Z' }).expect(400))).to.include(
        'capturedAt',
      );
      const got = await api('get', `/api/v1/contacts/${email}/consents`).expect(200);
      expect(got.body.consents).to.deep.equal([]);
    });

    it('answers JSON nested deeper than the body allows with 400, not 500', async () => {
      let deep: unknown = 'x';
      for (let i = 0; i < 200; i++) deep = { a: deep };
      const res = await api('put', `/api/v1/contacts/${uniqueEmail()}`).send({ name: deep }).expect(400);
      expect(res.body.error.code).to.equal('validation_failed');
      let arrays: unknown = ['x'];
      for (let i = 0; i < 50; i++) arrays = [arrays];
      await api('post', '/api/v1/send-permission/batch')
        .send({ channel: 'email', topic: 'newsletter', recipients: arrays })
        .expect(400);
    });
  });

  describe('a stream line with no end', () => {
    it('answers a line over 1 KB with an error, keeps memory flat, and answers the next line', async function () {
      this.timeout(60_000);
      const server = http.createServer(t.app).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const port = (server.address() as AddressInfo).port;
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      try {
        const body = await new Promise<string>((resolve, reject) => {
          const req = http.request(
            {
              port,
              method: 'POST',
              path: '/api/v1/send-permission/stream?channel=email&topic=newsletter',
              headers: { authorization: auth, 'content-type': 'text/plain' },
            },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (d) => {
                text += d;
              });
              res.on('end', () => resolve(text));
            },
          );
          req.on('error', reject);
          const chunk = 'x'.repeat(64 * 1024);
          let sent = 0;
          const pump = () => {
            // 40 MB of one line, written as the socket takes it, then an ordinary line
            while (sent < 640) {
              sent++;
              if (!req.write(chunk)) return req.once('drain', pump);
            }
            req.end(`\nok.${uniqueId('m')}@example.com\n`);
          };
          pump();
        });
        const lines = body
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(lines).to.have.length(2);
        expect(lines[0].error).to.match(/longer than 1024/);
        expect(lines[1]).to.include({ reason: 'unknown_recipient' });
        expect(peak - before, 'RSS growth while a 40 MB line streamed').to.be.below(40 * 1024 * 1024);
      } finally {
        clearInterval(sampler);
        server.close();
      }
    });
  });

  describe('email addresses as a mail server takes them', () => {
    it('refuses what a server would refuse, naming the rule', async () => {
      const long = 'a'.repeat(65);
      for (const bad of [
        '.lead@example.com',
        'trail.@example.com',
        'two..dots@example.com',
        'bell\u0007@example.com',
        'del\u007f@example.com',
        `${long}@example.com`,
        `a@${'b'.repeat(64)}.com`,
        `a@${`${'b'.repeat(60)}.`.repeat(5)}com`,
        `${'a'.repeat(60)}@${`${'b'.repeat(60)}.`.repeat(3)}${'c'.repeat(10)}.com`, // 258 in all
        'no-at-sign.example.com',
        'a@nodot',
      ]) {
        const res = await api('put', `/api/v1/contacts/${encodeURIComponent(bad)}`).send({});
        expect(res.status, bad).to.equal(400);
        expect(res.body.error.message, bad).to.match(/not valid|control character/);
      }
    });

    it('stores an internationalised domain as punycode and finds it by either spelling; takes UTF-8 local parts', async () => {
      const tag = uniqueId('i').replace(/\W/g, '');
      const created = await api('put', `/api/v1/contacts/${encodeURIComponent(`ann.${tag}@bücher.example`)}`)
        .send({})
        .expect(201);
      expect(created.body.email).to.equal(`ann.${tag}@xn--bcher-kva.example`);
      await api('put', `/api/v1/contacts/ann.${tag}@xn--bcher-kva.example`).send({}).expect(200);
      for (const recipient of [`ann.${tag}@bücher.example`, `ann.${tag}@XN--BCHER-KVA.example`]) {
        const res = await api('post', '/api/v1/send-permission')
          .send({ channel: 'email', recipient, topic: 'newsletter' })
          .expect(200);
        expect(res.body.reason, recipient).to.equal('subscribed');
      }
      const utf8 = await api('put', `/api/v1/contacts/${encodeURIComponent(`josé.${tag}@example.com`)}`)
        .send({})
        .expect(201);
      expect(utf8.body.email).to.equal(`josé.${tag}@example.com`);
    });
  });

  it('answers a console search holding a NUL with a 400 page, not a 500', async () => {
    const email = uniqueEmail('staff');
    await createStaffUser(t.db.knex, t.ctx.ledger, system, {
      email,
      password: 'long enough password 1',
      role: 'staff',
    });
    const agent = request.agent(t.app);
    const page = await agent.get('/admin/login').expect(200);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
    await agent
      .post('/admin/login')
      .type('form')
      .send({ email, password: 'long enough password 1', csrf })
      .expect(303);
    const res = await agent.get('/admin/contacts?q=%00').expect(400);
    expect(res.text).to.include('control character');
  });

  it('erasure revokes phone consents through the consent part, each on the ledger', async () => {
    const account = uniqueId('acct');
    await upsertAccount(t.ctx, system, account, {
      agreement: { status: 'signed', signedAt: new Date('2026-01-01T00:00:00Z'), reference: 'MSA' },
    });
    const email = uniqueEmail();
    const { contact } = await upsertContact(t.ctx, system, email, { accountExternalId: account });
    await grantConsent(t.ctx, system, contact.id, {
      phone: uniquePhone(),
      channels: ['sms', 'voice'],
      method: 'api',
    });
    await request(t.app).delete(`/api/v1/contacts/${email}`).set('Authorization', auth).expect(204);
    const revoked = await t.db
      .knex('events')
      .where({ contact_id: contact.id, type: 'consent.revoked' })
      .orderBy('id');
    expect(revoked.map((e) => [e.channel, e.data.method])).to.deep.equal([
      ['sms', 'erasure'],
      ['voice', 'erasure'],
    ]);
  });
});
