import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import request from 'supertest';
import { revokeApiKey } from '../../server/admin/api-keys.ts';
import { createApp } from '../../server/app.ts';
import { createDb } from '../../server/db.ts';
import {
  EMAIL_MANY_SQL,
  EMAIL_ONE_SQL,
  EMAIL_SPARSE_SQL,
  emailLines,
} from '../../server/permission/queries.ts';
import {
  apiKeyFor,
  type TestApp,
  testApp,
  testConfig,
  uniqueEmail,
  uniqueId,
  uniquePhone,
} from '../support/app.ts';

describe('send-permission API', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t, ['check', 'contacts'])).auth;
  });

  const check = (body: object) =>
    request(t.app).post('/api/v1/send-permission').set('Authorization', auth).send(body);
  const putContact = (email: string, body: object = {}) =>
    request(t.app)
      .put(`/api/v1/contacts/${encodeURIComponent(email)}`)
      .set('Authorization', auth)
      .send(body);

  describe('authentication', () => {
    const body = { channel: 'email', recipient: 'a@example.com', topic: 'newsletter' };
    it('refuses a missing key with 401', async () => {
      const res = await request(t.app).post('/api/v1/send-permission').send(body).expect(401);
      expect(res.body.error.code).to.equal('unauthorized');
    });
    it('refuses a wrong key with 401', async () => {
      await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', 'Bearer pck_wrong')
        .send(body)
        .expect(401);
    });
    it('refuses a revoked key with 401', async () => {
      const k = await apiKeyFor(t, ['check']);
      await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', k.auth)
        .send(body)
        .expect(200);
      await revokeApiKey(t.db.knex, t.ctx.ledger, { actor: 'system' }, k.id);
      t.ctx.apiAuth.forget(k.id); // what the console does after revoking
      await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', k.auth)
        .send(body)
        .expect(401);
    });
    it('refuses a key without the check scope with 403', async () => {
      const k = await apiKeyFor(t, ['contacts']);
      const res = await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', k.auth)
        .send(body)
        .expect(403);
      expect(res.body.error.code).to.equal('forbidden');
    });
  });

  describe('email', () => {
    it('allows marketing to a known contact and hands out unsubscribe headers', async () => {
      const email = uniqueEmail();
      await putContact(email).expect(201);
      const res = await check({
        channel: 'email',
        recipient: `  ${email.toUpperCase()} `,
        topic: 'newsletter',
      }).expect(200);
      expect(res.body).to.include({
        allowed: true,
        reason: 'subscribed',
        channel: 'email',
        topic: 'newsletter',
      });
      expect(res.body.recipient).to.equal(email.toUpperCase());
      const u = res.body.unsubscribe;
      expect(u.url).to.match(/^https:\/\/prefs\.example\.test\/u\/[A-Za-z0-9_.-]+$/);
      expect(u.oneClickUrl).to.equal(u.url);
      expect(u.headers).to.deep.equal({
        'List-Unsubscribe': `<${u.url}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      });
      expect(u.url).not.to.include(email.split('@')[0]);
    });

    it('denies marketing to an unknown address but allows operational mail', async () => {
      const email = uniqueEmail('stranger');
      const m = await check({ channel: 'email', recipient: email, topic: 'offers' }).expect(200);
      expect(m.body).to.include({ allowed: false, reason: 'unknown_recipient' });
      expect(m.body.unsubscribe).to.equal(undefined);
      const o = await check({ channel: 'email', recipient: email, topic: 'security' }).expect(200);
      expect(o.body).to.include({ allowed: true, reason: 'operational' });
      expect(o.body.unsubscribe).to.equal(undefined);
    });

    it('denies the very next check after an opt-out commits (no cache)', async () => {
      const email = uniqueEmail();
      await putContact(email).expect(201);
      expect(
        (await check({ channel: 'email', recipient: email, topic: 'newsletter' })).body.allowed,
      ).to.equal(true);
      await request(t.app)
        .post(`/api/v1/contacts/${email}/unsubscribe`)
        .set('Authorization', auth)
        .send({ topic: 'newsletter', channel: 'email' })
        .expect(200);
      expect((await check({ channel: 'email', recipient: email, topic: 'newsletter' })).body).to.include({
        allowed: false,
        reason: 'unsubscribed_topic',
      });
      expect((await check({ channel: 'email', recipient: email, topic: 'offers' })).body.allowed).to.equal(
        true,
      );
      await request(t.app)
        .post(`/api/v1/contacts/${email}/unsubscribe`)
        .set('Authorization', auth)
        .send({})
        .expect(200);
      expect((await check({ channel: 'email', recipient: email, topic: 'offers' })).body.reason).to.equal(
        'unsubscribed_all',
      );
      expect((await check({ channel: 'email', recipient: email, topic: 'account' })).body).to.include({
        allowed: true,
        reason: 'operational',
      });
    });

    it('no check begun after an opt-out committed says allowed, under 200 concurrent checks', async () => {
      const email = uniqueEmail();
      await putContact(email).expect(201);
      let committedAt = Number.POSITIVE_INFINITY;
      const results: { startedAt: number; allowed: boolean }[] = [];
      const one = async () => {
        const startedAt = performance.now();
        const res = await check({ channel: 'email', recipient: email, topic: 'events' });
        expect(res.status).to.equal(200);
        results.push({ startedAt, allowed: res.body.allowed });
      };
      const checks: Promise<void>[] = [];
      for (let i = 0; i < 100; i++) checks.push(one());
      const optOut = request(t.app)
        .post(`/api/v1/contacts/${email}/unsubscribe`)
        .set('Authorization', auth)
        .send({ topic: 'events', channel: 'email' })
        .then((res) => {
          expect(res.status).to.equal(200);
          committedAt = performance.now();
        });
      for (let i = 0; i < 100; i++) {
        checks.push(one());
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      await optOut;
      for (let i = 0; i < 20; i++) checks.push(one());
      await Promise.all(checks);
      const after = results.filter((r) => r.startedAt > committedAt);
      expect(after.length).to.be.greaterThan(0);
      expect(after.filter((r) => r.allowed)).to.deep.equal([]);
    });

    it('denies a known address once a suppression for its hash commits, and allows after it is lifted', async () => {
      const email = uniqueEmail();
      await putContact(email).expect(201);
      const { keyedHash } = await import('../../server/keyed-hash.ts');
      const hash = keyedHash(t.ctx.config.hashSecret, 'email', email.toUpperCase());
      const batch = () =>
        request(t.app)
          .post('/api/v1/send-permission/batch')
          .set('Authorization', auth)
          .send({ channel: 'email', topic: 'offers', recipients: [email] })
          .expect(200);
      await t.db.knex('suppressions').insert({ email_hash: hash, reason: 'bounce', actor: 'system' });
      expect((await check({ channel: 'email', recipient: email, topic: 'offers' })).body.reason).to.equal(
        'suppressed',
      );
      expect((await batch()).body.results[0].reason).to.equal('suppressed');
      expect((await check({ channel: 'email', recipient: email, topic: 'account' })).body.reason).to.equal(
        'operational',
      );
      await t.db.knex('suppressions').where({ email_hash: hash }).del();
      expect((await check({ channel: 'email', recipient: email, topic: 'offers' })).body.reason).to.equal(
        'subscribed',
      );
      expect((await batch()).body.results[0].reason).to.equal('subscribed');
    });

    it('keeps an erased address suppressed when it comes back', async () => {
      const email = uniqueEmail();
      await putContact(email, { name: 'Gone Soon' }).expect(201);
      await request(t.app).delete(`/api/v1/contacts/${email}`).set('Authorization', auth).expect(204);
      await request(t.app).get(`/api/v1/contacts/${email}`).set('Authorization', auth).expect(404);
      expect((await check({ channel: 'email', recipient: email, topic: 'newsletter' })).body.reason).to.equal(
        'suppressed',
      );
      const gone = await request(t.app)
        .post('/api/v1/send-permission/batch')
        .set('Authorization', auth)
        .send({ channel: 'email', topic: 'newsletter', recipients: [uniqueEmail(), email] })
        .expect(200);
      expect(gone.body.results.map((r: { reason: string }) => r.reason)).to.deep.equal([
        'unknown_recipient',
        'suppressed',
      ]);
      await putContact(email, { name: 'Back Again' }).expect(201);
      const res = await check({ channel: 'email', recipient: email, topic: 'newsletter' });
      expect(res.body).to.include({ allowed: false, reason: 'suppressed' });
      const contact = await request(t.app)
        .get(`/api/v1/contacts/${email}`)
        .set('Authorization', auth)
        .expect(200);
      expect(contact.body.suppression.reason).to.equal('erasure');
      const row = await t.db
        .knex('contacts')
        .whereNotNull('erased_at')
        .where({ name: null })
        .whereRaw('email = ?', [
          (await import('../../server/keyed-hash.ts')).keyedHash(t.ctx.config.hashSecret, 'email', email),
        ]);
      expect(row).to.have.length(1);
    });

    it('says channel_not_offered for a topic not on the channel', async () => {
      const res = await check({ channel: 'sms', recipient: '+14155552671', topic: 'newsletter' }).expect(200);
      expect(res.body).to.include({ allowed: false, reason: 'channel_not_offered' });
    });

    it('reads a contact for a check from the address index alone, never the table (index-only)', async () => {
      const clean = uniqueEmail('covered');
      const left = uniqueEmail('covered-left');
      await putContact(clean).expect(201);
      await putContact(left).expect(201);
      await request(t.app)
        .post(`/api/v1/contacts/${left}/unsubscribe`)
        .set('Authorization', auth)
        .send({ channel: 'email' })
        .expect(200);
      // What autovacuum does: marks settled pages all-visible. Index cleanup forced: with only a
      // few dead rows PostgreSQL skips it and leaves their line pointers, and a page holding one
      // is not all-visible (a database an earlier run had written read one heap fetch here).
      await t.db.knex.raw('vacuum (index_cleanup on) contacts');
      const plans = await t.db.knex.transaction(async (trx) => {
        // A test table is small enough for a sequential scan to win; the index's shape is the question.
        await trx.raw('set local enable_seqscan = off');
        await trx.raw('set local enable_bitmapscan = off');
        const out: unknown[] = [];
        const statements = [
          ['pc_t_one', EMAIL_ONE_SQL, `'${clean}', 'newsletter'`],
          ['pc_t_many', EMAIL_MANY_SQL, `E'${clean}\\n${left}\\nnobody@example.com'`],
          ['pc_t_sparse', EMAIL_SPARSE_SQL, `E'${clean}\\n${left}\\nnobody@example.com'`],
        ];
        for (const [name, text, args] of statements) {
          await trx.raw(`prepare ${name} as ${text}`);
          const res = await trx.raw(`explain (analyze, costs off, format json) execute ${name}(${args})`);
          out.push(res.rows[0]['QUERY PLAN']);
          await trx.raw(`deallocate ${name}`);
        }
        return out;
      });
      const scansOf = (plan: unknown) => {
        const found: Record<string, unknown>[] = [];
        const walk = (n: Record<string, unknown>) => {
          if (n['Relation Name'] === 'contacts') found.push(n);
          for (const child of (n.Plans as Record<string, unknown>[]) ?? []) walk(child);
        };
        const root = (typeof plan === 'string' ? JSON.parse(plan) : plan) as {
          Plan: Record<string, unknown>;
        }[];
        walk(root[0].Plan);
        return found;
      };
      for (const plan of plans) {
        const scans = scansOf(plan);
        expect(scans).to.have.length(1);
        expect(scans[0]).to.include({
          'Node Type': 'Index Only Scan',
          'Index Name': 'contacts_email_key',
          'Heap Fetches': 0,
        });
      }
    });

    it('sends a batch of addresses as lines, and refuses one that would read as two', async () => {
      const a = uniqueEmail('lines-a');
      const b = uniqueEmail('lines-b');
      await putContact(a).expect(201);
      const rows = await t.db.read<{ known: boolean }>('pc_t_lines', EMAIL_MANY_SQL, [emailLines([b, a, a])]);
      expect(rows.map((r) => r.known)).to.deep.equal([false, true, true]);
      expect(() => emailLines([`${a}\n${b}`])).to.throw(/not checked/);
      expect(() => emailLines([''])).to.throw(/not checked/);
    });
  });

  describe('sms and voice', () => {
    it('answers in E.164 from a national format and needs a signed agreement and consent', async () => {
      const phone = uniquePhone();
      const national = `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`;
      const email = uniqueEmail();
      const acct = uniqueId();
      await request(t.app)
        .put(`/api/v1/accounts/${acct}`)
        .set('Authorization', auth)
        .send({ name: 'A' })
        .expect(201);
      await putContact(email, { phone: national, accountExternalId: acct }).expect(201);
      const r1 = await check({ channel: 'sms', recipient: national, topic: 'offers' }).expect(200);
      expect(r1.body).to.include({ recipient: phone, allowed: false, reason: 'not_signed_customer' });
      await request(t.app)
        .put(`/api/v1/accounts/${acct}`)
        .set('Authorization', auth)
        .send({ agreement: { status: 'signed', signedAt: '2026-01-02', reference: 'MSA-1' } })
        .expect(200);
      const r2 = await check({ channel: 'voice', recipient: phone, topic: 'account' }).expect(200);
      expect(r2.body).to.include({ allowed: false, reason: 'no_consent' });
      const r3 = await check({ channel: 'sms', recipient: uniquePhone(), topic: 'account' }).expect(200);
      expect(r3.body).to.include({ allowed: false, reason: 'unknown_recipient' });
    });
  });

  describe('bad input', () => {
    const cases: [string, unknown, string][] = [
      ['missing fields', {}, 'channel'],
      ['unknown channel', { channel: 'fax', recipient: 'a@example.com', topic: 'newsletter' }, 'channel'],
      ['wrong types', { channel: 'email', recipient: 42, topic: ['x'] }, 'recipient'],
      ['bad email', { channel: 'email', recipient: 'not-an-email', topic: 'newsletter' }, 'recipient'],
      ['bad phone', { channel: 'sms', recipient: '12', topic: 'offers' }, 'recipient'],
      ['letters as phone', { channel: 'voice', recipient: 'call me', topic: 'offers' }, 'recipient'],
      ['unknown topic', { channel: 'email', recipient: 'a@example.com', topic: 'nope' }, 'topic'],
      ['unknown topic on sms', { channel: 'sms', recipient: '+14155552671', topic: 'nope' }, 'topic'],
      ['array body', [1, 2], ''],
    ];
    for (const [name, body, field] of cases) {
      it(`answers 400 for ${name}`, async () => {
        const res = await check(body as object).expect(400);
        expect(res.body.error.code).to.equal('validation_failed');
        if (field) expect(JSON.stringify(res.body.error.details)).to.include(field);
      });
    }
  });

  describe('batch', () => {
    const batch = (body: object) =>
      request(t.app).post('/api/v1/send-permission/batch').set('Authorization', auth).send(body);

    it('answers in request order, duplicates included', async () => {
      const a = uniqueEmail('a');
      const b = uniqueEmail('b');
      await putContact(a).expect(201);
      await putContact(b).expect(201);
      await request(t.app)
        .post(`/api/v1/contacts/${b}/unsubscribe`)
        .set('Authorization', auth)
        .send({ channel: 'email' })
        .expect(200);
      const stranger = uniqueEmail('c');
      const res = await batch({
        channel: 'email',
        topic: 'offers',
        recipients: [b, a, stranger, a, b.toUpperCase()],
      }).expect(200);
      expect(res.body.results).to.deep.equal([
        { recipient: b, allowed: false, reason: 'unsubscribed_all' },
        { recipient: a, allowed: true, reason: 'subscribed' },
        { recipient: stranger, allowed: false, reason: 'unknown_recipient' },
        { recipient: a, allowed: true, reason: 'subscribed' },
        { recipient: b.toUpperCase(), allowed: false, reason: 'unsubscribed_all' },
      ]);
    });

    it('accepts 10,000 recipients and refuses 10,001', async () => {
      const many = Array.from({ length: 10_000 }, (_, i) => `bulk${i}@example.org`);
      const ok = await batch({ channel: 'email', topic: 'newsletter', recipients: many }).expect(200);
      expect(ok.body.results).to.have.length(10_000);
      expect(ok.body.results[9999].recipient).to.equal('bulk9999@example.org');
      const res = await batch({
        channel: 'email',
        topic: 'newsletter',
        recipients: [...many, 'one@more.org'],
      }).expect(400);
      expect(res.body.error.details[0].message).to.include('10000');
    });

    it('names each invalid recipient and checks nothing', async () => {
      const res = await batch({
        channel: 'email',
        topic: 'newsletter',
        recipients: ['ok@example.com', 'nope', 7],
      }).expect(400);
      expect(res.body.error.details.map((d: { field: string }) => d.field)).to.deep.equal([
        'recipients[1]',
        'recipients[2]',
      ]);
    });

    it('refuses an unknown topic and a missing recipients list', async () => {
      await batch({ channel: 'email', topic: 'nope', recipients: ['a@example.com'] }).expect(400);
      await batch({ channel: 'email', topic: 'newsletter' }).expect(400);
    });
  });

  describe('stream', () => {
    it('answers each line in order, malformed lines included, with links on request', async () => {
      const known = uniqueEmail();
      await putContact(known).expect(201);
      const input = [
        known,
        '',
        'not an email',
        `{"recipient":"${known}"}`,
        '{"recipient":5}',
        '{broken',
        'x@unknown.example.org',
      ].join('\n');
      const res = await request(t.app)
        .post('/api/v1/send-permission/stream?channel=email&topic=newsletter&links=true')
        .set('Authorization', auth)
        .set('Content-Type', 'text/plain')
        .send(`${input}\n`)
        .expect(200);
      expect(res.headers['content-type']).to.include('application/x-ndjson');
      const lines = res.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).to.have.length(7);
      expect(lines[0]).to.include({ recipient: known, allowed: true, reason: 'subscribed' });
      expect(lines[0].unsubscribe.url).to.match(/\/u\//);
      expect(lines[1]).to.have.property('error');
      expect(lines[2]).to.have.property('error');
      expect(lines[3]).to.include({ recipient: known, allowed: true });
      expect(lines[4]).to.have.property('error');
      expect(lines[5]).to.have.property('error');
      expect(lines[6]).to.deep.equal({
        recipient: 'x@unknown.example.org',
        allowed: false,
        reason: 'unknown_recipient',
      });
    });

    it('without links answers every state exactly as the single check does, in order', async () => {
      // The stream without links reads only the recipients whose state is not "known, nothing
      // held" and fills in the rest: each state must still come out as the one-by-one check says.
      const { keyedHash } = await import('../../server/keyed-hash.ts');
      const unsubscribe = (email: string, body: object) =>
        request(t.app)
          .post(`/api/v1/contacts/${email}/unsubscribe`)
          .set('Authorization', auth)
          .send(body)
          .expect(200);
      const clean = uniqueEmail('clean');
      const topicOut = uniqueEmail('topic');
      const allOut = uniqueEmail('all');
      const suppressedKnown = uniqueEmail('supp');
      const paused = uniqueEmail('paused');
      const pauseOver = uniqueEmail('pauseover');
      const erased = uniqueEmail('erased');
      const bounced = uniqueEmail('bounced'); // no contact, a suppression under its hash
      for (const e of [clean, topicOut, allOut, suppressedKnown, paused, pauseOver, erased])
        await putContact(e).expect(201);
      await unsubscribe(topicOut, { channel: 'email', topic: 'newsletter' });
      await unsubscribe(allOut, { channel: 'email' });
      for (const e of [suppressedKnown, bounced]) {
        await t.db.knex('suppressions').insert({
          email_hash: keyedHash(t.ctx.config.hashSecret, 'email', e),
          reason: 'bounce',
          actor: 'system',
        });
      }
      await t.db
        .knex('contacts')
        .where({ email: paused })
        .update({ paused_until: new Date(Date.now() + 86400_000) });
      await t.db
        .knex('contacts')
        .where({ email: pauseOver })
        .update({ paused_until: new Date(Date.now() - 86400_000) });
      await request(t.app).delete(`/api/v1/contacts/${erased}`).set('Authorization', auth).expect(204);
      const recipients = [
        clean,
        topicOut,
        'not an email',
        allOut,
        suppressedKnown,
        paused,
        pauseOver,
        erased,
        bounced,
        uniqueEmail('stranger'),
        clean.toUpperCase(),
        allOut,
      ];
      for (const topic of ['newsletter', 'offers', 'account']) {
        const res = await request(t.app)
          .post(`/api/v1/send-permission/stream?channel=email&topic=${topic}`)
          .set('Authorization', auth)
          .set('Content-Type', 'text/plain')
          .send(`${recipients.join('\n')}\n`)
          .expect(200);
        const lines = res.text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        const one = [];
        for (const recipient of recipients) {
          const r = (await check({ channel: 'email', recipient, topic })).body;
          one.push(r.error ? 'error' : `${r.recipient} ${r.allowed} ${r.reason}`);
        }
        expect(
          lines.map((l) => (l.error ? 'error' : `${l.recipient} ${l.allowed} ${l.reason}`)),
          topic,
        ).to.deep.equal(one);
      }
      // and the states are all there (a test that would pass with every answer alike proves nothing)
      const reasons = new Set<string>();
      for (const recipient of recipients) {
        const r = (await check({ channel: 'email', recipient, topic: 'newsletter' })).body;
        if (r.reason) reasons.add(r.reason);
      }
      expect([...reasons].sort()).to.deep.equal(
        [
          'paused',
          'subscribed',
          'suppressed',
          'unknown_recipient',
          'unsubscribed_all',
          'unsubscribed_topic',
        ].sort(),
      );
    });

    it('needs channel and topic in the URL, a known topic and the check scope', async () => {
      await request(t.app)
        .post('/api/v1/send-permission/stream?channel=email')
        .set('Authorization', auth)
        .send('a@b.co\n')
        .expect(400);
      await request(t.app)
        .post('/api/v1/send-permission/stream?channel=email&topic=nope')
        .set('Authorization', auth)
        .send('a@b.co\n')
        .expect(400);
      const k = await apiKeyFor(t, ['events']);
      await request(t.app)
        .post('/api/v1/send-permission/stream?channel=email&topic=newsletter')
        .set('Authorization', k.auth)
        .expect(403);
    });

    it('streams 100,000 lines over a real socket, in order, with flat memory @slow', async function () {
      this.timeout(120_000);
      const server = http.createServer(t.app).listen(0);
      const { port } = server.address() as AddressInfo;
      const N = 100_000;
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 50);
      try {
        const count = await new Promise<{ lines: number; lastRecipient: string; firstOutOfOrder: number }>(
          (resolve, reject) => {
            const req = http.request(
              {
                port,
                method: 'POST',
                path: '/api/v1/send-permission/stream?channel=email&topic=newsletter',
                headers: { authorization: auth, 'content-type': 'text/plain' },
              },
              (res) => {
                let lines = 0;
                let rest = '';
                let last = '';
                let firstOutOfOrder = -1;
                res.setEncoding('utf8');
                res.on('data', (chunk: string) => {
                  const parts = (rest + chunk).split('\n');
                  rest = parts.pop() ?? '';
                  for (const p of parts) {
                    const o = JSON.parse(p);
                    if (firstOutOfOrder < 0 && o.recipient !== `s${lines}@stream.example.org`)
                      firstOutOfOrder = lines;
                    last = o.recipient;
                    lines++;
                  }
                });
                res.on('end', () => resolve({ lines, lastRecipient: last, firstOutOfOrder }));
                res.on('error', reject);
              },
            );
            req.on('error', reject);
            let i = 0;
            const write = () => {
              while (i < N) {
                let chunk = '';
                for (let j = 0; j < 1000 && i < N; j++, i++) chunk += `s${i}@stream.example.org\n`;
                if (!req.write(chunk)) return req.once('drain', write);
              }
              req.end();
            };
            write();
          },
        );
        expect(count.lines).to.equal(N);
        expect(count.firstOutOfOrder).to.equal(-1);
        expect(count.lastRecipient).to.equal(`s${N - 1}@stream.example.org`);
        // The whole input is ~3 MB and the output ~8 MB; a server that buffered either would
        // grow by far more than this bound on top of the test process's own baseline.
        expect(peak - before).to.be.lessThan(150 * 1024 * 1024);
      } finally {
        clearInterval(sampler);
        server.close();
      }
    });
  });

  describe('when the database is unreachable', () => {
    it('fails closed with 503 unavailable', async function () {
      this.timeout(30_000);
      const db = await createDb({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none' });
      const app = createApp({ config: testConfig(), db });
      // the key lookup itself needs the database, so this fails at authentication already: closed
      const res = await request(app)
        .post('/api/v1/send-permission')
        .set('Authorization', auth)
        .send({ channel: 'email', recipient: 'a@example.com', topic: 'newsletter' });
      expect(res.status).to.equal(503);
      expect(res.body).to.deep.include({ error: { code: 'unavailable', message: res.body.error.message } });
      await request(app).get('/readyz').expect(503);
      await db.close();
    });
  });
});
