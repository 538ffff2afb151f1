import { expect } from 'chai';
import request from 'supertest';
import { parseTokenKeys } from '../../server/config.ts';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { forgetTopics } from '../../server/preferences/queries.ts';
import { signToken } from '../../server/tokens/tokens.ts';
import { apiKeyFor, type TestApp, testApp, uniqueEmail, uniqueId } from '../support/app.ts';
import { csrfOf, formOf } from '../support/forms.ts';

const system = { actor: 'system' as const };

describe('recipient pages', () => {
  let t: TestApp;
  let checkAuth: string;
  before(async () => {
    t = await testApp();
    checkAuth = (await apiKeyFor(t, ['check'])).auth;
  });

  async function contact(patch: { name?: string; locale?: string; accountExternalId?: string } = {}) {
    const email = uniqueEmail();
    const { contact } = await upsertContact(t.ctx, system, email, patch);
    return { email, id: contact.id as string };
  }
  const unsubToken = (id: string, topic = 'newsletter') =>
    signToken(t.ctx.config.tokenKeys, { purpose: 'unsubscribe', contactId: id, topic });
  const prefsToken = (id: string) =>
    signToken(t.ctx.config.tokenKeys, { purpose: 'preferences', contactId: id, topic: null });
  const events = (id: string) => t.db.knex('events').where({ contact_id: id }).orderBy('id');
  const prefs = (id: string) =>
    t.db
      .knex('preferences')
      .where({ contact_id: id })
      .orderBy(['channel', 'topic'])
      .select('channel', 'topic', 'status');
  const check = async (recipient: string, topic: string) =>
    (
      await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', checkAuth)
        .send({ channel: 'email', recipient, topic })
        .expect(200)
    ).body;

  describe('GET /u/:token', () => {
    it('names the topic and the masked address, offers three choices and says what keeps coming', async () => {
      const c = await contact();
      const res = await request(t.app)
        .get(`/u/${unsubToken(c.id)}`)
        .expect(200);
      expect(res.headers['content-type']).to.match(/text\/html/);
      expect(res.text).to.include('Newsletter');
      expect(res.text).to.include(`${c.email[0]}•••@example.com`);
      expect(res.text).not.to.include(c.email);
      expect(res.text).to.include('Unsubscribe from “Newsletter”');
      expect(res.text).to.include('Unsubscribe from all marketing email');
      expect(res.text).to.include('Manage all preferences');
      expect(res.text).to.include('Account notices');
      expect(res.text).to.include('Security and fraud alerts');
      expect(res.text).to.include('<meta name="robots" content="noindex, nofollow">');
      expect(res.headers['referrer-policy']).to.equal('no-referrer');
      expect(res.headers['set-cookie']).to.equal(undefined);
    });

    it('changes nothing when fetched by a link scanner (GET and HEAD, many times)', async () => {
      const c = await contact();
      const token = unsubToken(c.id);
      for (let i = 0; i < 3; i++) {
        await request(t.app).get(`/u/${token}`).expect(200);
        await request(t.app).head(`/u/${token}`).expect(200);
        await request(t.app)
          .get(`/preferences/${prefsToken(c.id)}`)
          .expect(200);
      }
      expect(await prefs(c.id)).to.deep.equal([]);
      expect((await events(c.id)).map((e) => e.type)).to.deep.equal(['contact.created']);
      expect((await check(c.email, 'newsletter')).reason).to.equal('subscribed');
    });

    it('answers 404 revealing nothing for tampered, truncated, foreign-key, wrong-purpose or erased tokens', async () => {
      const c = await contact();
      const good = unsubToken(c.id);
      const [payload, kid, sig] = good.split('.');
      const flipped = `${payload}.${kid}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
      const foreign = signToken(parseTokenKeys(`gone:${'z'.repeat(40)}`, []), {
        purpose: 'unsubscribe',
        contactId: c.id,
        topic: 'newsletter',
      });
      const erased = await contact();
      await t.db.knex('contacts').where({ id: erased.id }).update({ erased_at: new Date() });
      const bad = [
        flipped,
        good.slice(0, -5),
        foreign,
        prefsToken(c.id),
        unsubToken(erased.id),
        'x',
        `${payload}.${kid}`,
      ];
      for (const token of bad) {
        const page = await request(t.app).get(`/u/${token}`).expect(404);
        expect(page.text).to.include('This link is not valid');
        expect(page.text).not.to.include('example.com');
        await request(t.app).post(`/u/${token}`).type('form').send('List-Unsubscribe=One-Click').expect(404);
      }
      expect(await prefs(c.id)).to.deep.equal([]);
    });
  });

  describe('POST /u/:token (RFC 8058 one-click)', () => {
    it('unsubscribes the topic from a urlencoded body, idempotently, without redirect or cookie', async () => {
      const c = await contact();
      const token = unsubToken(c.id, 'offers');
      const res = await request(t.app)
        .post(`/u/${token}`)
        .set('User-Agent', 'Gmail one-click')
        .type('form')
        .send('List-Unsubscribe=One-Click')
        .expect(200);
      expect(res.headers.location).to.equal(undefined);
      expect(res.headers['set-cookie']).to.equal(undefined);
      expect(res.text.length).to.be.lessThan(100);
      await request(t.app).post(`/u/${token}`).type('form').send('List-Unsubscribe=One-Click').expect(200);
      expect(await prefs(c.id)).to.deep.equal([
        { channel: 'email', topic: 'offers', status: 'unsubscribed' },
      ]);
      const ev = (await events(c.id)).filter((e) => e.type === 'preference.changed');
      expect(ev).to.have.length(1);
      expect(ev[0]).to.include({
        actor: 'recipient',
        channel: 'email',
        topic: 'offers',
        old_value: 'subscribed',
        new_value: 'unsubscribed',
        user_agent: 'Gmail one-click',
      });
      expect(ev[0].ip).to.be.a('string').and.not.equal('');
      expect(await check(c.email, 'offers')).to.include({ allowed: false, reason: 'unsubscribed_topic' });
      expect(await check(c.email, 'newsletter')).to.include({ allowed: true });
    });

    it('unsubscribes from a multipart/form-data body too', async () => {
      const c = await contact();
      await request(t.app)
        .post(`/u/${unsubToken(c.id, 'events')}`)
        .field('List-Unsubscribe', 'One-Click')
        .expect(200);
      expect(await prefs(c.id)).to.deep.equal([
        { channel: 'email', topic: 'events', status: 'unsubscribed' },
      ]);
    });

    it('takes the value whatever its case, white space or stray bytes (a trailing CRLF from a mail client)', async () => {
      for (const body of [
        'List-Unsubscribe=One-Click%0D%0A',
        'List-Unsubscribe=one-click',
        'List-Unsubscribe=+ONE-CLICK+',
        'list-unsubscribe=One-Click',
        'List-Unsubscribe=One-Click%00',
        'List-Unsubscribe=One-Click%09',
      ]) {
        const c = await contact();
        await request(t.app)
          .post(`/u/${unsubToken(c.id)}`)
          .type('form')
          .send(body)
          .expect(200);
        expect(await prefs(c.id), body).to.deep.equal([
          { channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
        ]);
      }
      const c = await contact();
      await request(t.app)
        .post(`/u/${unsubToken(c.id)}`)
        .field('List-Unsubscribe', 'One-Click\r\n')
        .expect(200);
      expect(await prefs(c.id)).to.deep.equal([
        { channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
      ]);
    });

    it('refuses a List-Unsubscribe field with another value with 400 and changes nothing', async () => {
      const c = await contact();
      for (const body of [
        'List-Unsubscribe=Yes',
        'List-Unsubscribe=',
        'List-Unsubscribe=One-Click&List-Unsubscribe=x',
      ]) {
        await request(t.app)
          .post(`/u/${unsubToken(c.id)}`)
          .type('form')
          .send(body)
          .expect(400);
      }
      await request(t.app)
        .post(`/u/${unsubToken(c.id)}`)
        .field('List-Unsubscribe', 'one-click please')
        .expect(400);
      expect(await prefs(c.id)).to.deep.equal([]);
      expect((await events(c.id)).map((e) => e.type)).to.deep.equal(['contact.created']);
    });
  });

  describe('POST /u/:token (the page form)', () => {
    async function formFor(id: string, topic = 'newsletter') {
      const token = unsubToken(id, topic);
      const page = await request(t.app).get(`/u/${token}`).expect(200);
      return { token, csrf: csrfOf(page.text) };
    }

    it('refuses a missing or wrong CSRF token with a 403 page and changes nothing', async () => {
      const c = await contact();
      const other = await contact();
      const { token } = await formFor(c.id);
      const { csrf: otherCsrf } = await formFor(other.id);
      const missing = await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ action: 'all' })
        .expect(403);
      expect(missing.text).to.include('Reload the page');
      await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ action: 'all', csrf: otherCsrf })
        .expect(403);
      await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ action: 'all', csrf: 'x.t1.y' })
        .expect(403);
      expect(await prefs(c.id)).to.deep.equal([]);
    });

    it('unsubscribes from the topic, and Undo restores exactly the prior state', async () => {
      const c = await contact();
      // a prior state worth restoring: offers already off, newsletter on
      await request(t.app)
        .post(`/u/${unsubToken(c.id, 'offers')}`)
        .type('form')
        .send('List-Unsubscribe=One-Click');
      const before = await prefs(c.id);
      const { token, csrf } = await formFor(c.id);
      const done = await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ action: 'topic', csrf })
        .expect(200);
      expect(done.text).to.include('You are unsubscribed');
      expect(done.text).to.include('Undo');
      expect(done.text).to.include('Why are you leaving?');
      expect(await check(c.email, 'newsletter')).to.include({ reason: 'unsubscribed_topic' });
      const undoFields = [...done.text.matchAll(/name="undo" value="([^"]+)"/g)].map((m) => m[1]);
      expect(undoFields).to.deep.equal(['email:newsletter:subscribed']);
      const undone = await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send(`action=undo&csrf=${encodeURIComponent(csrfOf(done.text))}&undo=${undoFields[0]}`)
        .expect(200);
      expect(undone.text).to.include('You are subscribed again');
      const after = await prefs(c.id);
      expect(after.filter((p) => p.status === 'unsubscribed')).to.deep.equal(
        before.filter((p) => p.status === 'unsubscribed'),
      );
      expect(await check(c.email, 'newsletter')).to.include({ allowed: true, reason: 'subscribed' });
      expect(await check(c.email, 'offers')).to.include({ allowed: false, reason: 'unsubscribed_topic' });
      const changes = (await events(c.id)).filter((e) => e.type === 'preference.changed');
      expect(changes.map((e) => `${e.topic}:${e.new_value}:${e.actor}`)).to.deep.equal([
        'offers:unsubscribed:recipient',
        'newsletter:unsubscribed:recipient',
        'newsletter:subscribed:recipient',
      ]);
    });

    it('unsubscribe-all stops marketing but keeps operational email allowed by the check API', async () => {
      const c = await contact();
      const { token, csrf } = await formFor(c.id);
      const res = await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ action: 'all', csrf })
        .expect(200);
      expect(res.text).to.include('You will no longer get any marketing email');
      for (const topic of ['newsletter', 'offers', 'events', 'product-updates'])
        expect(await check(c.email, topic)).to.include({ allowed: false, reason: 'unsubscribed_all' });
      for (const topic of ['account', 'administrative', 'security'])
        expect(await check(c.email, topic)).to.include({ allowed: true, reason: 'operational' });
    });

    it('records the optional reason for leaving on the ledger, and ignores an unknown one', async () => {
      const c = await contact();
      const { token, csrf } = await formFor(c.id);
      const done = await request(t.app).post(`/u/${token}`).type('form').send({ action: 'topic', csrf });
      const csrf2 = csrfOf(done.text);
      await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ action: 'feedback', reason: 'too_many', csrf: csrf2 })
        .expect(200);
      await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ action: 'feedback', reason: 'I hate <b>you</b>', csrf: csrf2 })
        .expect(200);
      const feedback = (await events(c.id)).filter((e) => e.type === 'preference.feedback');
      expect(feedback.map((e) => [e.new_value, e.topic, e.actor])).to.deep.equal([
        ['too_many', 'newsletter', 'recipient'],
      ]);
    });

    it('renders XSS payloads in a contact name and a topic name inert', async () => {
      const slug = `xss-${uniqueId('t').slice(-8)}`;
      await t.db.knex('topics').insert({
        slug,
        name: '<img src=x onerror=alert(1)>',
        description: '"><script>alert(2)</script>',
        kind: 'marketing',
        channels: ['email'],
        position: 999,
      });
      forgetTopics(t.db.knex); // as the console does after saving a topic
      const c = await contact({ name: '<script>alert(3)</script>' });
      const u = await request(t.app)
        .get(`/u/${unsubToken(c.id, slug)}`)
        .expect(200);
      const p = await request(t.app)
        .get(`/preferences/${prefsToken(c.id)}`)
        .expect(200);
      for (const html of [u.text, p.text]) {
        expect(html).not.to.include('<img src=x');
        expect(html).not.to.include('<script>');
        expect(html).to.include('&lt;img src=x onerror=alert(1)&gt;');
      }
      expect(p.text).to.include('&lt;script&gt;alert(3)&lt;/script&gt;');
      await t.db.knex('topics').where({ slug }).del();
    });
  });

  describe('/preferences/:token', () => {
    it('shows every marketing topic on email, operational topics as always on, no phone choices for non-customers', async () => {
      const c = await contact();
      const res = await request(t.app)
        .get(`/preferences/${prefsToken(c.id)}`)
        .expect(200);
      for (const topic of ['newsletter', 'product-updates', 'events', 'offers'])
        expect(res.text).to.include(`value="email:${topic}" checked`);
      expect(res.text).not.to.include('value="sms:');
      expect(res.text).to.include('Always sent');
      expect(res.text).to.include('We only call or text customers with a signed agreement');
      expect(res.text).to.match(/<label class="choice">\s*<input type="checkbox"/);
    });

    it('shows text and call topics for contacts of signed accounts, with a place for phone consent', async () => {
      const account = uniqueId('signed');
      await upsertAccount(t.ctx, system, account, {
        agreement: { status: 'signed', signedAt: new Date('2026-01-02T00:00:00Z'), reference: 'MSA-1' },
      });
      const c = await contact({ accountExternalId: account });
      const res = await request(t.app)
        .get(`/preferences/${prefsToken(c.id)}`)
        .expect(200);
      expect(res.text).to.include('value="sms:offers" checked');
      expect(res.text).to.include('value="voice:events" checked');
      expect(res.text).to.include('id="phone"');
    });

    it('saves with one ledger event per actual change, none when nothing changed', async () => {
      const c = await contact();
      const token = prefsToken(c.id);
      const page = await request(t.app).get(`/preferences/${token}`);
      const csrf = csrfOf(page.text);
      // untick newsletter and offers; keep the rest
      const body =
        `csrf=${encodeURIComponent(csrf)}&channels=email&all%3Aemail=subscribed` +
        '&topic=email%3Aproduct-updates&topic=email%3Aevents';
      const saved = await request(t.app).post(`/preferences/${token}`).type('form').send(body).expect(303);
      expect(saved.headers.location).to.equal(`/preferences/${token}?saved=2`);
      const changes = (await events(c.id)).filter((e) => e.type === 'preference.changed');
      expect(changes.map((e) => e.topic).sort()).to.deep.equal(['newsletter', 'offers']);
      const again = await request(t.app).post(`/preferences/${token}`).type('form').send(body).expect(303);
      expect(again.headers.location).to.equal(`/preferences/${token}?saved=0`);
      expect((await events(c.id)).filter((e) => e.type === 'preference.changed')).to.have.length(2);
      const reloaded = await request(t.app).get(saved.headers.location).expect(200);
      expect(reloaded.text).to.include('Saved.');
      expect(reloaded.text).to.include('value="email:newsletter">');
      expect(reloaded.text).to.include('value="email:events" checked');
      expect(await check(c.email, 'newsletter')).to.include({ reason: 'unsubscribed_topic' });
    });

    it('never undoes an opt-out made elsewhere after the page was shown (a stale page)', async () => {
      const c = await contact();
      const token = prefsToken(c.id);
      const page = await request(t.app).get(`/preferences/${token}`).expect(200);
      const form = formOf(page.text);
      // meanwhile: Gmail's one-click button on a newsletter
      await request(t.app)
        .post(`/u/${unsubToken(c.id)}`)
        .type('form')
        .send('List-Unsubscribe=One-Click')
        .expect(200);
      // the old page is submitted as shown, except that the person unticks "offers"
      form.delete('topic', 'email:offers');
      await request(t.app).post(`/preferences/${token}`).type('form').send(form.toString()).expect(303);
      expect(await prefs(c.id)).to.deep.equal([
        { channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
        { channel: 'email', topic: 'offers', status: 'unsubscribed' },
      ]);
      expect(await check(c.email, 'newsletter')).to.include({ reason: 'unsubscribed_topic' });
    });

    it('applies what the person changed on the page, re-subscribing included', async () => {
      const c = await contact();
      const token = prefsToken(c.id);
      await request(t.app)
        .post(`/u/${unsubToken(c.id)}`)
        .type('form')
        .send('List-Unsubscribe=One-Click')
        .expect(200);
      const form = formOf((await request(t.app).get(`/preferences/${token}`)).text);
      expect(form.getAll('topic')).not.to.include('email:newsletter');
      form.append('topic', 'email:newsletter');
      form.set('all:email', 'unsubscribed');
      await request(t.app).post(`/preferences/${token}`).type('form').send(form.toString()).expect(303);
      expect(await prefs(c.id)).to.deep.equal([
        { channel: 'email', topic: 'newsletter', status: 'subscribed' },
        { channel: 'email', topic: null, status: 'unsubscribed' },
      ]);
    });

    it('does not read a channel the form did not show as "everything off"', async () => {
      const c = await contact();
      const token = prefsToken(c.id);
      const csrf = csrfOf((await request(t.app).get(`/preferences/${token}`)).text);
      await request(t.app).post(`/preferences/${token}`).type('form').send({ csrf }).expect(303);
      expect(await prefs(c.id)).to.deep.equal([]);
    });

    it('refuses a missing CSRF token with 403 and changes nothing', async () => {
      const c = await contact();
      await request(t.app)
        .post(`/preferences/${prefsToken(c.id)}`)
        .type('form')
        .send('channels=email&all%3Aemail=unsubscribed')
        .expect(403);
      expect(await prefs(c.id)).to.deep.equal([]);
    });

    it("speaks the contact's language, else the browser's, else English", async () => {
      const es = await contact({ locale: 'es-MX' });
      const esPage = await request(t.app)
        .get(`/u/${unsubToken(es.id)}`)
        .expect(200);
      expect(esPage.text).to.include('<html lang="es">');
      expect(esPage.text).to.include('Darme de baja de «Boletín»');
      const plain = await contact();
      const browser = await request(t.app)
        .get(`/preferences/${prefsToken(plain.id)}`)
        .set('Accept-Language', 'es-ES,es;q=0.9')
        .expect(200);
      expect(browser.text).to.include('Sus preferencias');
      const fallback = await request(t.app)
        .get(`/preferences/${prefsToken(plain.id)}`)
        .set('Accept-Language', 'de')
        .expect(200);
      expect(fallback.text).to.include('Your preferences');
    });
  });

  describe('/preferences (email me my link)', () => {
    // the mail is a background job: these apps work their jobs
    const started: TestApp[] = [];
    const jobsApp = async (env: Record<string, string> = {}) => {
      const a = await testApp({ env, jobs: true });
      started.push(a);
      return a.app;
    };
    after(async () => {
      for (const a of started) await a.ctx.jobs.stop();
    });
    const ask = async (app: TestApp['app'], email: string, ip = '203.0.113.5') => {
      const page = await request(app).get('/preferences').set('X-Forwarded-For', ip);
      return request(app)
        .post('/preferences')
        .set('X-Forwarded-For', ip)
        .type('form')
        .send({ email, csrf: csrfOf(page.text) });
    };
    const expectStatus = (res: request.Response, status: number) => {
      expect(res.status).to.equal(status);
      return res;
    };
    const outbox = (to: string) => t.db.knex('messages').whereRaw('lower(to_email) = lower(?)', [to]);
    /** The mail goes out after the answer, as a job: wait until it is stored and handed over. */
    async function waitForMail(to: string) {
      for (let i = 0; i < 250; i++) {
        const rows = await outbox(to);
        if (rows.length && rows.every((r) => r.status !== 'pending')) return rows;
        await new Promise((r) => setTimeout(r, 20));
      }
      return [];
    }

    it('answers the same page for known and unknown addresses and mails the link to the known one', async () => {
      const c = await contact();
      const app = await jobsApp({ TRUST_PROXY: '1' });
      const known = expectStatus(await ask(app, c.email.toUpperCase(), '203.0.113.10'), 200);
      const unknownAddress = uniqueEmail('nobody');
      const unknown = expectStatus(await ask(app, unknownAddress, '203.0.113.11'), 200);
      const strip = (html: string, email: string) => html.replace(email, 'ADDRESS');
      expect(strip(known.text, c.email.toUpperCase())).to.equal(strip(unknown.text, unknownAddress));
      const [mail] = await waitForMail(c.email);
      expect(mail).to.include({ topic: 'account', status: 'sent', transport: 'outbox' });
      expect(mail.text).to.include('https://prefs.example.test/preferences/');
      expect(mail.headers).to.deep.equal({});
      const link = /https:\/\/prefs\.example\.test(\/preferences\/\S+)/.exec(mail.text)?.[1] as string;
      await request(t.app).get(link).expect(200);
      expect(await outbox(unknownAddress)).to.deep.equal([]);
    });

    it('answers a bad address with 400 and a message, and a missing CSRF token with 403', async () => {
      const app = (await testApp()).app;
      const res = expectStatus(await ask(app, 'not an address'), 400);
      expect(res.text).to.include('Enter an email address');
      await request(app).post('/preferences').type('form').send({ email: uniqueEmail() }).expect(403);
    });

    it('limits requests per address and per IP with a 429 page, not a crash', async () => {
      const app = (await testApp({ env: { TRUST_PROXY: '1' } })).app;
      const email = uniqueEmail();
      // limits are kept in the database (shared by processes, kept across runs): fresh addresses
      // (IPv6 clients are limited per /56, the limiter's default: one random /48 per use)
      const net = () => `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}`;
      for (let i = 0; i < 3; i++) expectStatus(await ask(app, email, `${net()}::1`), 200);
      const limited = expectStatus(await ask(app, email, `${net()}::1`), 429);
      expect(limited.text).to.include('Too many requests');
      expect(limited.headers['content-type']).to.match(/text\/html/);
      const one = net();
      for (let i = 0; i < 10; i++) expectStatus(await ask(app, uniqueEmail(), `${one}::7`), 200);
      expectStatus(await ask(app, uniqueEmail(), `${one}::7`), 429);
    });
  });

  describe('/u/:token knows where the person stands', () => {
    const post = async (token: string, fields: Record<string, string>) => {
      const page = await request(t.app).get(`/u/${token}`).expect(200);
      return request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ csrf: csrfOf(page.text), ...fields });
    };

    it('says so on a second visit after unsubscribing, with one Resubscribe button that brings back only this topic', async () => {
      const c = await contact();
      const token = unsubToken(c.id);
      await post(token, { action: 'topic' }).then((r) => expect(r.status).to.equal(200));
      const again = await request(t.app).get(`/u/${token}`).expect(200);
      expect(again.text).to.include('You are unsubscribed from “Newsletter”');
      expect(again.text).not.to.include('Unsubscribe from “Newsletter”');
      expect(again.text.match(/Resubscribe/g)).to.have.length(1);
      const back = await post(token, { action: 'resubscribe' });
      expect(back.status).to.equal(200);
      expect(back.text).to.include('“Newsletter” comes to');
      expect((await check(c.email, 'newsletter')).reason).to.equal('subscribed');
      expect((await request(t.app).get(`/u/${token}`).expect(200)).text).to.include(
        'Unsubscribe from “Newsletter”',
      );
    });

    it('after all marketing was turned off, Resubscribe turns the switch back on for this topic alone', async () => {
      const c = await contact();
      const token = unsubToken(c.id, 'offers');
      await post(token, { action: 'all' });
      const page = await request(t.app).get(`/u/${token}`).expect(200);
      expect(page.text).to.match(/gets no marketing email from/);
      await post(token, { action: 'resubscribe' });
      expect((await check(c.email, 'offers')).reason).to.equal('subscribed');
      for (const other of ['newsletter', 'events', 'product-updates'])
        expect((await check(c.email, other)).reason, other).to.equal('unsubscribed_topic');
      const written = (await events(c.id)).filter((e) => e.type === 'preference.changed');
      expect(written.at(-1)?.data).to.deep.include({ via: 'resubscribe' });
    });

    it('lists what still comes after leaving one topic, each with a button to leave it too', async () => {
      const c = await contact();
      const token = unsubToken(c.id);
      const done = await post(token, { action: 'topic' });
      expect(done.text).to.include('Still coming to');
      expect(done.text).to.include('Leave “Offers and promotions” too');
      expect(done.text).not.to.include('Leave “Newsletter” too');
      const page = await request(t.app).get(`/u/${token}`).expect(200);
      const left = await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ csrf: csrfOf(page.text), action: 'leave', topic: 'offers' })
        .expect(200);
      expect(left.text).to.include('You will no longer get “Offers and promotions”');
      expect((await check(c.email, 'offers')).reason).to.equal('unsubscribed_topic');
      // an operational or unknown topic cannot be "left" this way
      for (const topic of ['account', 'nope'])
        await request(t.app)
          .post(`/u/${token}`)
          .type('form')
          .send({ csrf: csrfOf(page.text), action: 'leave', topic })
          .expect(400);
      expect((await check(c.email, 'account')).reason).to.equal('operational');
    });

    it('pauses marketing email for 30, 60 or 90 days from the link, says until when, and Resubscribe ends it', async () => {
      const c = await contact();
      const token = unsubToken(c.id);
      const page = await request(t.app).get(`/u/${token}`).expect(200);
      for (const days of [30, 60, 90]) expect(page.text).to.include(`Pause for ${days} days`);
      await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ csrf: csrfOf(page.text), action: 'pause', days: '45' })
        .expect(400);
      const paused = await post(token, { action: 'pause', days: '30' });
      expect(paused.status).to.equal(200);
      expect(paused.text).to.include('No marketing email to');
      const decision = await check(c.email, 'newsletter');
      expect(decision.reason).to.equal('paused');
      expect(new Date(decision.retryAfter).getTime() - Date.now()).to.be.within(
        29.9 * 86400_000,
        30 * 86400_000,
      );
      // pressed twice (or the form resent): the pause in force stands, no second event
      const twice = await post(token, { action: 'pause', days: '90' });
      expect(twice.status).to.equal(200);
      expect((await check(c.email, 'newsletter')).retryAfter).to.equal(decision.retryAfter);
      const again = await request(t.app).get(`/u/${token}`).expect(200);
      expect(again.text).to.match(/is paused until/);
      expect(again.text).not.to.include('Pause for 30 days');
      await post(token, { action: 'resubscribe' });
      expect((await check(c.email, 'newsletter')).reason).to.equal('subscribed');
      const changed = (await events(c.id)).filter((e) => e.type === 'preference.changed');
      expect(changed.map((e) => e.new_value)).to.deep.equal(['paused', 'subscribed']);
    });

    it('shows a suppressed address as such, with nothing to press', async () => {
      const c = await contact();
      await t.db.knex('contacts').where({ id: c.id }).update({ suppressed: true });
      const page = await request(t.app)
        .get(`/u/${unsubToken(c.id)}`)
        .expect(200);
      expect(page.text).to.include('sends no marketing email to');
      expect(page.text).not.to.include('Resubscribe');
      expect(page.text).not.to.include('name="action"');
    });

    it('speaks Spanish: Volver a suscribirme', async () => {
      const c = await contact({ locale: 'es' });
      const token = unsubToken(c.id);
      await post(token, { action: 'topic' });
      const page = await request(t.app).get(`/u/${token}`).expect(200);
      expect(page.text).to.include('Volver a suscribirme');
      expect(page.text).not.to.include('Resubscribe');
    });
  });

  describe('the language switch', () => {
    it('renders a page in the language picked, writes nothing, and keeps it through the form', async () => {
      const c = await contact({ locale: 'en' });
      const token = unsubToken(c.id);
      const before = (await events(c.id)).length;
      const es = await request(t.app).get(`/u/${token}?lang=es`).expect(200);
      expect(es.text).to.include('<html lang="es">');
      expect(es.text).to.include('Darme de baja de «');
      expect(es.text).to.include(`href="/u/${token}?lang=en"`);
      expect(es.text).to.include('name="lang" value="es"');
      expect((await events(c.id)).length).to.equal(before);
      expect((await t.db.knex('contacts').where({ id: c.id }).first()).locale).to.equal('en');
      const done = await request(t.app)
        .post(`/u/${token}`)
        .type('form')
        .send({ csrf: csrfOf(es.text), action: 'topic', lang: 'es' })
        .expect(200);
      expect(done.text).to.include('<html lang="es">');
      // and back: the contact's own language again without the switch
      expect((await request(t.app).get(`/u/${token}`).expect(200)).text).to.include('<html lang="en">');
    });

    it('translates error pages: a 404 in Spanish for a Spanish browser or ?lang=es', async () => {
      const browser = await request(t.app)
        .get('/no-such-page')
        .set('Accept-Language', 'es-MX,es;q=0.9')
        .expect(404);
      expect(browser.text).to.include('Página no encontrada');
      expect(browser.text).to.include('No hay nada en esta dirección.');
      const switched = await request(t.app).get('/no-such-page?lang=es').expect(404);
      expect(switched.text).to.include('<html lang="es">');
      const english = await request(t.app).get('/no-such-page').expect(404);
      expect(english.text).to.include('Page not found');
    });
  });

  describe('/preferences/:token: one form for everything', () => {
    const load = async (id: string) => {
      const page = await request(t.app)
        .get(`/preferences/${prefsToken(id)}`)
        .expect(200);
      return { page, form: formOf(page.text) };
    };
    const save = (id: string, form: URLSearchParams) =>
      request(t.app)
        .post(`/preferences/${prefsToken(id)}`)
        .type('form')
        .send(form.toString());

    it('saves details, a pause and topics together, each on the ledger, in one go', async () => {
      const c = await contact({ name: 'Old Name' });
      const { form } = await load(c.id);
      form.set('name', 'New Name');
      form.set('locale', 'es');
      form.set('timeZone', 'America/Chicago');
      form.set('pause', '60');
      form.delete('topic', 'email:newsletter');
      const res = await save(c.id, form).expect(303);
      expect(res.headers.location).to.match(/saved=[1-9]/);
      const row = await t.db.knex('contacts').where({ id: c.id }).first();
      expect(row).to.include({ name: 'New Name', locale: 'es', time_zone: 'America/Chicago' });
      expect(new Date(row.paused_until).getTime() - Date.now()).to.be.within(
        59.9 * 86400_000,
        60 * 86400_000,
      );
      expect((await check(c.email, 'offers')).reason).to.equal('paused');
      expect((await check(c.email, 'newsletter')).reason).to.equal('unsubscribed_topic');
      const types = (await events(c.id)).map((e) => `${e.type}:${e.new_value ?? ''}`);
      expect(types).to.include.members([
        'contact.updated:',
        'preference.changed:paused',
        'preference.changed:unsubscribed',
      ]);
      const again = await load(c.id);
      expect(again.page.text).to.include('<html lang="es">');
      expect(again.page.text).to.match(/En pausa hasta el/);
    });

    it('applies only the details the person changed: an old page never undoes a correction made since', async () => {
      const c = await contact({ name: 'Ann' });
      const { form } = await load(c.id); // page A, shows "Ann"
      const b = await load(c.id); // page B
      b.form.set('name', 'Ann Smith');
      await save(c.id, b.form).expect(303);
      form.delete('topic', 'email:offers'); // page A changes a topic only
      await save(c.id, form).expect(303);
      expect((await t.db.knex('contacts').where({ id: c.id }).first()).name).to.equal('Ann Smith');
      expect((await check(c.email, 'offers')).reason).to.equal('unsubscribed_topic');
    });

    it('applies a pause once: an old page, or the same form sent twice, never pauses again', async () => {
      const c = await contact();
      const { form } = await load(c.id); // shows no pause
      form.set('pause', '30');
      await save(c.id, form).expect(303);
      const until = (await t.db.knex('contacts').where({ id: c.id }).first()).paused_until;
      form.set('pause', '90'); // the same old page, sent again with a longer pause
      const res = await save(c.id, form).expect(303);
      expect(res.headers.location).to.match(/saved=0$/);
      expect((await t.db.knex('contacts').where({ id: c.id }).first()).paused_until).to.deep.equal(until);
      const pauses = (await events(c.id)).filter((e) => e.new_value === 'paused');
      expect(pauses).to.have.length(1);
    });

    it('refuses an unknown time zone with a page that says so, and changes nothing', async () => {
      const c = await contact();
      const { form } = await load(c.id);
      form.set('timeZone', 'Mars/Olympus');
      form.set('name', 'Changed');
      const res = await save(c.id, form).expect(400);
      expect(res.text).to.include('That time zone is not known');
      expect((await t.db.knex('contacts').where({ id: c.id }).first()).name).to.equal(null);
    });

    it('says nothing changed when nothing did, and keeps a running pause when left alone', async () => {
      const c = await contact();
      const { form } = await load(c.id);
      form.set('pause', '30');
      await save(c.id, form).expect(303);
      const second = await load(c.id);
      expect(second.form.get('pause')).to.equal('keep');
      const res = await save(c.id, second.form).expect(303);
      expect(res.headers.location).to.match(/saved=0$/);
      expect((await check(c.email, 'offers')).reason).to.equal('paused');
    });
  });
});
