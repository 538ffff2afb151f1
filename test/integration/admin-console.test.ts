import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { parse as parseCsv } from 'csv-parse/sync';
import request from 'supertest';
import { migrateLatest } from '../../db/migrate.ts';
import { createStaffUser } from '../../server/admin/staff.ts';
import { grantConsent } from '../../server/consent/service.ts';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { keyedHash } from '../../server/keyed-hash.ts';
import { setPreferences } from '../../server/preferences/service.ts';
import { apiKeyFor, type TestApp, testApp, uniqueEmail, uniqueId, uniquePhone } from '../support/app.ts';
import { signedInStaff } from '../support/console.ts';
import { freshDb } from '../support/db.ts';

const system = { actor: 'system' as const };
const PASSWORD = 'correct horse battery staple';
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

describe('admin console', () => {
  let t: TestApp;
  // Plain http in tests: a Secure cookie would not travel over it (checked separately below).
  before(async () => {
    t = await testApp({ env: { BASE_URL: 'http://console.test' } });
  });

  async function user(role: 'owner' | 'staff' | 'customer_admin', account?: string) {
    const email = uniqueEmail(role);
    const u = await createStaffUser(t.db.knex, t.ctx.ledger, system, {
      email,
      password: PASSWORD,
      role,
      accountExternalId: account,
    });
    return { email, id: u.id };
  }
  async function login(email: string, password = PASSWORD, app = t.app) {
    const agent = request.agent(app);
    const page = await agent.get('/admin/login').expect(200);
    const res = await agent
      .post('/admin/login')
      .type('form')
      .send({ email, password, csrf: csrfOf(page.text) });
    return { agent, res };
  }
  async function signedIn(role: 'owner' | 'staff' | 'customer_admin', account?: string) {
    const u = await user(role, account);
    const { agent, res } = await login(u.email);
    expect(res.status).to.equal(303);
    const page = await agent.get('/admin/contacts');
    return { agent, csrf: csrfOf(page.text), id: u.id };
  }
  async function account(status: 'signed' | 'none' = 'signed') {
    const ext = uniqueId('acct');
    await upsertAccount(t.ctx, system, ext, {
      name: `Account ${ext}`,
      agreement:
        status === 'signed'
          ? { status, signedAt: new Date('2026-02-01T00:00:00Z'), reference: 'MSA-9' }
          : { status, signedAt: null, reference: null },
    });
    return ext;
  }
  async function contact(accountExternalId?: string, name = 'Zed Example') {
    const email = uniqueEmail('c');
    const { contact: c } = await upsertContact(t.ctx, system, email, { name, accountExternalId });
    return { email, id: c.id as string };
  }

  describe('sign in', () => {
    it('signs in with a session cookie that is HttpOnly, SameSite=Lax and scoped to /admin', async () => {
      const u = await user('staff');
      const { res, agent } = await login(u.email);
      expect(res.status).to.equal(303);
      expect(res.headers.location).to.equal('/admin'); // the dashboard first (SPEC "Pages")
      const cookie = String(res.headers['set-cookie']);
      expect(cookie).to.match(/HttpOnly/i);
      expect(cookie).to.match(/SameSite=Lax/i);
      expect(cookie).to.match(/Path=\/admin/);
      await agent.get('/admin/contacts').expect(200);
      // and Secure when the public URL is https
      const https = await testApp();
      const r2 = await login(u.email, PASSWORD, https.app);
      expect(String(r2.res.headers['set-cookie'])).to.match(/Secure/);
    });

    describe('throttling (never a lockout)', () => {
      let clock = new Date('2026-11-26T10:00:00Z');
      let th: TestApp;
      before(async () => {
        th = await testApp({ env: { BASE_URL: 'http://console.test', TRUST_PROXY: '1' }, now: () => clock });
      });
      // A documentation-range address of its own per call: throttle rows outlive a run.
      const freshIp = () => `2001:db8::${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`;
      async function attempt(ip: string, email: string, password: string) {
        const agent = request.agent(th.app);
        const page = await agent.get('/admin/login').set('X-Forwarded-For', ip).expect(200);
        const res = await agent
          .post('/admin/login')
          .set('X-Forwarded-For', ip)
          .type('form')
          .send({ email, password, csrf: csrfOf(page.text) });
        const error = /<p class="notice error"[^>]*>([^<]*)</.exec(res.text)?.[1] ?? '';
        return { status: res.status, retryAfter: res.headers['retry-after'], error };
      }
      const tick = (seconds: number) => {
        clock = new Date(clock.getTime() + seconds * 1000);
      };

      it('lets the right password in again within a minute of seven wrong ones', async () => {
        const u = await user('owner');
        const ip = freshIp();
        const seen: (number | string)[] = [];
        for (let i = 0; i < 7; i++) {
          let r = await attempt(ip, u.email, `wrong ${i}`);
          // a waiting attempt is answered 429 with Retry-After and is not counted
          while (r.status === 429) {
            seen.push(`429:${r.retryAfter}`);
            tick(Number(r.retryAfter));
            r = await attempt(ip, u.email, `wrong ${i}`);
          }
          seen.push(r.status);
        }
        expect(seen).to.deep.equal([
          401,
          401,
          401,
          '429:5',
          401,
          '429:10',
          401,
          '429:20',
          401,
          '429:40',
          401,
        ]);
        const early = await attempt(ip, u.email, PASSWORD);
        expect(early.status).to.equal(429);
        expect(Number(early.retryAfter)).to.equal(60);
        expect(early.error).to.include('Wait 60 seconds');
        tick(60);
        expect((await attempt(ip, u.email, PASSWORD)).status).to.equal(303);
        // a success resets: the next wrong password is free again
        expect((await attempt(ip, u.email, 'wrong again')).status).to.equal(401);
        expect((await attempt(ip, u.email, PASSWORD)).status).to.equal(303);
      });

      it('does not let a stranger elsewhere keep the owner out', async () => {
        const u = await user('owner');
        const attacker = freshIp();
        for (let i = 0; i < 3; i++) await attempt(attacker, u.email, 'guess');
        expect((await attempt(attacker, u.email, 'guess')).status).to.equal(429);
        expect((await attempt(freshIp(), u.email, PASSWORD)).status).to.equal(303);
      });

      it('answers a real and an unknown address alike, wrong and throttled', async () => {
        const u = await user('staff');
        const ghost = uniqueEmail('nobody');
        const run = async (email: string) => {
          const ip = freshIp();
          const out: string[] = [];
          for (let i = 0; i < 5; i++) {
            const r = await attempt(ip, email, 'not it');
            out.push(`${r.status} ${r.retryAfter ?? '-'} ${r.error}`);
          }
          return out;
        };
        const real = await run(u.email);
        const unknown = await run(ghost);
        expect(unknown).to.deep.equal(real);
        expect(real[0]).to.equal('401 - That email and password do not match.');
        expect(real[3]).to.match(/^429 5 Too many failed sign-ins/);
      });

      it('holds an IP to 30 failures per 15 minutes across addresses', async () => {
        const ip = freshIp();
        const u = await user('staff');
        for (let i = 0; i < 30; i++)
          expect((await attempt(ip, uniqueEmail('spray'), 'x')).status).to.equal(401);
        const blocked = await attempt(ip, u.email, PASSWORD);
        expect(blocked.status).to.equal(429);
        expect(Number(blocked.retryAfter)).to.be.within(1, 900);
        tick(15 * 60);
        expect((await attempt(ip, u.email, PASSWORD)).status).to.equal(303);
      });
    });

    it('refuses a wrong password without saying which part was wrong', async () => {
      const u = await user('staff');
      const wrong = await login(u.email, 'not the password');
      expect(wrong.res.status).to.equal(401);
      expect(wrong.res.text).to.include('That email and password do not match.');
      const unknown = await login(uniqueEmail('nobody'), 'whatever');
      expect(unknown.res.status).to.equal(401);
      expect(unknown.res.text).to.include('That email and password do not match.');
    });

    it('refuses a sign-in form posted without the browser cookie it was made for (login CSRF)', async () => {
      const u = await user('staff');
      const page = await request(t.app).get('/admin/login').expect(200);
      // a token taken from our page, posted by another browser (no pc_login cookie)
      await request(t.app)
        .post('/admin/login')
        .type('form')
        .send({ email: u.email, password: PASSWORD, csrf: csrfOf(page.text) })
        .expect(403);
      const ok = await login(u.email);
      expect(ok.res.status).to.equal(303);
    });

    it('sends people who are not signed in to the login page, and signs out', async () => {
      const anon = await request(t.app).get('/admin/contacts').expect(303);
      expect(anon.headers.location).to.equal('/admin/login?next=%2Fadmin%2Fcontacts');
      await request(t.app).post('/admin/contacts/x/suppress').type('form').send({}).expect(403);
      const s = await signedIn('staff');
      await s.agent.post('/admin/logout').type('form').send({ csrf: s.csrf }).expect(303);
      await s.agent.get('/admin/contacts').expect(303);
    });

    it('refuses a console POST without the session CSRF token with 403 and changes nothing', async () => {
      const s = await signedIn('staff');
      const c = await contact();
      await s.agent.post(`/admin/contacts/${c.id}/suppress`).type('form').send({}).expect(403);
      await s.agent.post(`/admin/contacts/${c.id}/suppress`).type('form').send({ csrf: 'wrong' }).expect(403);
      const hash = keyedHash(t.ctx.config.hashSecret, 'email', c.email);
      expect(await t.db.knex('suppressions').where({ email_hash: hash })).to.deep.equal([]);
      await s.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .type('form')
        .send({ csrf: s.csrf, reason: 'asked on the phone' })
        .expect(303);
      expect(await t.db.knex('suppressions').where({ email_hash: hash })).to.have.length(1);
    });

    /** Every POST route under /admin, read from the app's own router (new routes are covered). */
    function consolePosts(app: TestApp['app']): string[] {
      const out: string[] = [];
      const walk = (
        stack: {
          route?: { path: string; methods: Record<string, boolean> };
          handle: { stack?: unknown[] };
        }[],
      ) => {
        for (const layer of stack) {
          if (layer.route?.methods.post && layer.route.path.startsWith('/admin')) out.push(layer.route.path);
          if (Array.isArray(layer.handle?.stack)) walk(layer.handle.stack as typeof stack);
        }
      };
      walk((app as unknown as { router: { stack: Parameters<typeof walk>[0] } }).router.stack);
      return [...new Set(out)];
    }

    it('refuses a tokenless multipart POST to every console route, and changes nothing', async () => {
      const s = await signedIn('owner');
      const c = await contact();
      const key = await apiKeyFor(t, ['check']);
      const routes = consolePosts(t.app).filter((p) => p !== '/admin/login');
      expect(routes).to.include.members([
        '/admin/logout',
        '/admin/contacts/:id/suppress',
        '/admin/api-keys/:id/revoke',
        '/admin/import',
      ]);
      const before = await t.db.knex('events').count({ n: '*' });
      for (const route of routes) {
        const url = route.replace(':id', route.startsWith('/admin/api-keys') ? key.id : c.id);
        const res = await s.agent
          .post(url)
          .field('reason', 'manual')
          .field('name', 'x')
          .field('email', uniqueEmail('x'))
          .field('password', 'long enough password 123')
          .field('role', 'staff');
        expect([400, 403], `${route} answered ${res.status}`).to.include(res.status);
        // and with a wrong token in the multipart body
        const wrong = await s.agent.post(url).field('csrf', 'wrong').field('reason', 'manual');
        expect([400, 403], `${route} with a wrong token answered ${wrong.status}`).to.include(wrong.status);
      }
      const after = await t.db.knex('events').count({ n: '*' });
      expect(Number(after[0].n)).to.equal(Number(before[0].n));
      // still signed in (logout refused), the key still works, the contact not suppressed
      await s.agent.get('/admin/contacts').expect(200);
      const hash = keyedHash(t.ctx.config.hashSecret, 'email', c.email);
      expect(await t.db.knex('suppressions').where({ email_hash: hash })).to.deep.equal([]);
      expect(await t.db.knex('api_keys').where({ id: key.id }).first()).to.include({ revoked_at: null });
      // the right token in a multipart body is accepted
      await s.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .field('csrf', s.csrf)
        .field('reason', 'asked on the phone')
        .expect(303);
      expect(await t.db.knex('suppressions').where({ email_hash: hash })).to.have.length(1);
    });

    it('refuses a console POST from another site even with a valid token', async () => {
      const s = await signedIn('staff');
      const c = await contact();
      await s.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .set('Origin', 'https://evil.example')
        .type('form')
        .send({ csrf: s.csrf })
        .expect(403);
      await s.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .set('Sec-Fetch-Site', 'cross-site')
        .type('form')
        .send({ csrf: s.csrf })
        .expect(403);
      const hash = keyedHash(t.ctx.config.hashSecret, 'email', c.email);
      expect(await t.db.knex('suppressions').where({ email_hash: hash })).to.deep.equal([]);
      // what Chromium sends from our own no-referrer pages
      await s.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .set('Origin', 'null')
        .set('Sec-Fetch-Site', 'same-origin')
        .type('form')
        .send({ csrf: s.csrf, reason: 'asked on the phone' })
        .expect(303);
    });
  });

  describe('roles', () => {
    const pages = [
      '/admin',
      '/admin/contacts',
      '/admin/contacts/new',
      '/admin/accounts',
      '/admin/topics',
      '/admin/outbox',
      '/admin/import',
      '/admin/exports',
      '/admin/api-keys',
      '/admin/staff',
    ];
    const allowed: Record<string, string[]> = {
      owner: pages,
      staff: [
        '/admin',
        '/admin/contacts',
        '/admin/contacts/new',
        '/admin/accounts',
        '/admin/topics',
        '/admin/outbox',
        '/admin/import',
        '/admin/exports',
      ],
      customer_admin: ['/admin', '/admin/contacts', '/admin/contacts/new', '/admin/import', '/admin/exports'],
    };
    for (const role of ['owner', 'staff', 'customer_admin'] as const) {
      it(`${role}: reaches exactly its pages`, async () => {
        const s = await signedIn(role, role === 'customer_admin' ? await account() : undefined);
        for (const page of pages) {
          const res = await s.agent.get(page);
          expect(res.status, `${role} ${page}`).to.equal(allowed[role].includes(page) ? 200 : 403);
        }
        const c = await contact();
        const detail = await s.agent.get(`/admin/contacts/${c.id}`);
        expect(detail.status).to.equal(role === 'customer_admin' ? 404 : 200);
        const edit = await s.agent.get(`/admin/contacts/${c.id}/edit`);
        expect(edit.status).to.equal(role === 'customer_admin' ? 404 : 200);
        const save = await s.agent
          .post(`/admin/contacts/${c.id}`)
          .type('form')
          .send({ csrf: s.csrf, name: 'Not yours' });
        expect(save.status).to.equal(role === 'customer_admin' ? 404 : 303);
        const erase = await s.agent
          .post(`/admin/contacts/${c.id}/erase`)
          .type('form')
          .send({ csrf: s.csrf, confirm: 'x' });
        expect(erase.status).to.equal(role === 'owner' ? 400 : role === 'staff' ? 403 : 403);
      });
    }
  });

  describe('tenancy', () => {
    it("shows a customer_admin the operator's people as 'staff', without their addresses or where they worked from", async () => {
      const a = await account();
      const c = await contact(a);
      const owner = await signedIn('owner');
      await owner.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .set('User-Agent', 'OperatorBrowser/1.0')
        .type('form')
        .send({ csrf: owner.csrf, reason: 'asked on the phone' })
        .expect(303);
      const ownerEmail = (await t.db.knex('staff_users').where({ id: owner.id }).first()).email;
      const asOwner = await owner.agent.get(`/admin/contacts/${c.id}`).expect(200);
      expect(asOwner.text).to.include(`staff ${ownerEmail}`);
      const admin = await signedIn('customer_admin', a);
      const page = (await admin.agent.get(`/admin/contacts/${c.id}`).expect(200)).text;
      const history = page.slice(page.indexOf('id="history"'));
      expect(history).to.include('Suppressed');
      expect(history).to.match(/<td>staff<\/td>/);
      expect(history).not.to.include(ownerEmail);
      expect(history).not.to.include('OperatorBrowser');
    });

    it("keeps a customer_admin to its own account's contacts: search, detail, actions and exports", async () => {
      const a = await account();
      const b = await account();
      const mine = await contact(a, 'Tenant Shared');
      const theirs = await contact(b, 'Tenant Shared');
      const s = await signedIn('customer_admin', a);
      const search = await s.agent.get('/admin/contacts?q=Tenant%20Shared').expect(200);
      expect(search.text).to.include(mine.email);
      expect(search.text).not.to.include(theirs.email);
      const byAccount = await s.agent.get(`/admin/contacts?account=${b}`).expect(200);
      expect(byAccount.text).not.to.include(theirs.email);
      await s.agent.get(`/admin/contacts/${theirs.id}`).expect(404);
      await s.agent.get(`/admin/contacts/${mine.id}`).expect(200);
      await s.agent
        .post(`/admin/contacts/${theirs.id}/preferences`)
        .type('form')
        .send({ csrf: s.csrf, channel: 'email', topic: '*', status: 'unsubscribed' })
        .expect(404);
      expect(await t.db.knex('preferences').where({ contact_id: theirs.id })).to.deep.equal([]);
      await s.agent
        .post(`/admin/contacts/${mine.id}/preferences`)
        .type('form')
        .send({ csrf: s.csrf, channel: 'email', topic: 'offers', status: 'unsubscribed' })
        .expect(303);
      const csv = await s.agent.get(`/admin/exports/events.csv?account=${b}`).expect(200);
      expect(csv.headers['content-type']).to.match(/text\/csv/);
      const rows = parseCsv(csv.text, { columns: true }) as { contactId: string; actor: string }[];
      expect(rows.some((r) => r.contactId === mine.id)).to.equal(true);
      expect(rows.some((r) => r.contactId === theirs.id)).to.equal(false);
      const contactIds = new Set(
        (
          await t.db
            .knex('contacts')
            .whereIn('account_id', t.db.knex('accounts').select('id').where({ external_id: a }))
            .select('id')
        ).map((r) => r.id),
      );
      for (const r of rows) if (r.contactId) expect(contactIds.has(r.contactId)).to.equal(true);
      const prefs = await s.agent.get('/admin/exports/preferences.csv').expect(200);
      expect(prefs.text).to.include(mine.email);
      expect(prefs.text).not.to.include(theirs.email);
    });
  });

  describe('the contacts export', () => {
    it('lists every contact as it stands: marketing state, topics left, pause, suppression, consent; one account for a customer administrator', async () => {
      const a = await account();
      const b = await account();
      const plain = await contact(a, 'Plain');
      const left = await contact(a, 'Left');
      const paused = await contact(a, 'Paused');
      const gone = await contact(a, 'Gone');
      const other = await contact(b, 'Other');
      const owner = await signedIn('owner');
      const send = (id: string, path: string, form: Record<string, string>) =>
        owner.agent
          .post(`/admin/contacts/${id}${path}`)
          .type('form')
          .send({ csrf: owner.csrf, ...form })
          .expect(303);
      await send(left.id, '/preferences', { channel: 'email', topic: 'offers', status: 'unsubscribed' });
      await send(left.id, '/preferences', { channel: 'email', topic: 'newsletter', status: 'unsubscribed' });
      await send(gone.id, '/suppress', { reason: 'asked on the phone' });
      await t.db
        .knex('contacts')
        .where({ id: paused.id })
        .update({ paused_until: new Date(Date.now() + 86400_000) });
      await grantConsent(t.ctx, system, plain.id, { phone: uniquePhone(), channels: ['sms'], method: 'api' });
      const s = await signedIn('customer_admin', a);
      const res = await s.agent.get('/admin/exports/contacts.csv').expect(200);
      expect(res.headers['content-disposition']).to.match(/contacts-\d{4}-\d{2}-\d{2}\.csv/);
      const rows = parseCsv(res.text, { columns: true }) as Record<string, string>[];
      const by = (email: string) => rows.find((r) => r.email === email) as Record<string, string>;
      expect(rows.map((r) => r.email).sort()).to.deep.equal(
        [plain, left, paused, gone].map((c) => c.email).sort(),
      );
      expect(by(plain.email)).to.include({
        name: 'Plain',
        account: a,
        marketingEmail: 'subscribed',
        suppressed: '',
      });
      expect(by(plain.email).smsConsentSince).to.match(/^\d{4}-/);
      expect(by(left.email)).to.include({
        marketingEmail: 'subscribed',
        emailTopicsOff: 'newsletter;offers',
      });
      expect(by(paused.email).marketingEmail).to.equal('paused');
      expect(by(gone.email)).to.include({ marketingEmail: 'suppressed', suppressed: 'manual' });
      expect(res.text).not.to.include(other.email);
    });
  });

  describe('creating and editing contacts', () => {
    it('creates a contact with the API rules, on the ledger as the staff member, and refuses a second with that address', async () => {
      const s = await signedIn('staff');
      const a = await account();
      const email = uniqueEmail('new');
      // a number of its own, typed the way people type it (a fixed one is taken on a second run
      // against the same database)
      const phone = uniquePhone();
      const res = await s.agent
        .post('/admin/contacts')
        .type('form')
        .send({
          csrf: s.csrf,
          email: `  ${email.toUpperCase()} `,
          name: 'Nora New',
          phone: `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`,
          locale: 'es',
          timeZone: 'America/Chicago',
          region: 'us-fl',
          account: a,
        })
        .expect(303);
      const row = await t.db.knex('contacts').whereRaw('lower(email) = ?', [email]).first();
      expect(res.headers.location).to.equal(`/admin/contacts/${row.id}?done=created`);
      expect(row).to.include({
        name: 'Nora New',
        phone,
        locale: 'es',
        time_zone: 'America/Chicago',
        region: 'US-FL',
      });
      const created = await t.db
        .knex('events')
        .where({ contact_id: row.id, type: 'contact.created' })
        .first();
      expect(created.actor).to.equal(`staff:${s.id}`);
      const again = await s.agent
        .post('/admin/contacts')
        .type('form')
        .send({ csrf: s.csrf, email })
        .expect(409);
      expect(again.text).to.include('exists already');
    });

    it("changes a contact's address: the person keeps their opt-outs and history; another contact's address is refused", async () => {
      const s = await signedIn('staff');
      const c = await contact();
      await setPreferences(t.ctx, system, c.id, [
        { channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
      ]);
      const taken = await contact();
      const clash = await s.agent
        .post(`/admin/contacts/${c.id}`)
        .type('form')
        .send({ csrf: s.csrf, email: taken.email.toUpperCase() })
        .expect(409);
      expect(clash.text).to.include('belongs to another contact');
      const next = uniqueEmail('moved');
      await s.agent
        .post(`/admin/contacts/${c.id}`)
        .type('form')
        .send({ csrf: s.csrf, email: next })
        .expect(303);
      const row = await t.db.knex('contacts').where({ id: c.id }).first();
      expect(row.email).to.equal(next);
      expect(row.email_hash).to.equal(keyedHash(t.ctx.config.hashSecret, 'email', next));
      const key = await apiKeyFor(t, ['check']);
      const check = await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', key.auth)
        .send({ recipient: next, topic: 'newsletter', channel: 'email' })
        .expect(200);
      expect(check.body.reason, 'the opt-out followed the person').to.equal('unsubscribed_topic');
      const moved = await t.db.knex('events').where({ contact_id: c.id, type: 'contact.updated' });
      expect(moved.map((e) => e.data.fields)).to.deep.include(['email']);
    });

    it('refuses bad fields with every problem named, and writes nothing', async () => {
      const s = await signedIn('staff');
      const email = uniqueEmail('bad');
      const res = await s.agent
        .post('/admin/contacts')
        .type('form')
        .send({ csrf: s.csrf, email, phone: '12', timeZone: 'Mars/Base', region: 'XX', locale: '!!' })
        .expect(400);
      for (const f of ['phone', 'timeZone', 'region', 'locale']) expect(res.text).to.include(f);
      expect(await t.db.knex('contacts').whereRaw('lower(email) = ?', [email])).to.deep.equal([]);
      const noEmail = await s.agent
        .post('/admin/contacts')
        .type('form')
        .send({ csrf: s.csrf, email: 'nope' })
        .expect(400);
      expect(noEmail.text).to.include('email');
    });

    it('edits details (empty clears), and a customer administrator creates only in their own account', async () => {
      const a = await account();
      const s = await signedIn('customer_admin', a);
      const email = uniqueEmail('mine');
      await s.agent
        .post('/admin/contacts')
        .type('form')
        .send({ csrf: s.csrf, email, name: 'Mia', locale: 'en', account: 'someone-elses-account' })
        .expect(303);
      const row = await t.db.knex('contacts').whereRaw('lower(email) = ?', [email]).first();
      const acct = await t.db.knex('accounts').where({ external_id: a }).first();
      expect(row.account_id).to.equal(acct.id);
      const form = await s.agent.get(`/admin/contacts/${row.id}/edit`).expect(200);
      expect(form.text).to.include('value="Mia"');
      await s.agent
        .post(`/admin/contacts/${row.id}`)
        .type('form')
        .send({ csrf: s.csrf, name: 'Mia Moss', phone: '' })
        .expect(303);
      const after = await t.db.knex('contacts').where({ id: row.id }).first();
      // phone sent empty: cleared; locale not sent: kept
      expect(after).to.include({ name: 'Mia Moss', phone: null, locale: 'en', account_id: acct.id });
      const updated = await t.db.knex('events').where({ contact_id: row.id, type: 'contact.updated' });
      expect(updated).to.have.length(1);
    });
  });

  describe('contact actions', () => {
    it('asks why before suppressing, lifting or revoking, and keeps the reason on the history', async () => {
      const a = await account();
      const c = await contact(a);
      const s = await signedIn('staff');
      const page = await s.agent.get(`/admin/contacts/${c.id}`).expect(200);
      expect(page.text).to.match(/<summary>Suppress all marketing email…<\/summary>/);
      const none = await s.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .type('form')
        .send({ csrf: s.csrf })
        .expect(400);
      expect(none.text).to.include('Say why');
      const hash = keyedHash(t.ctx.config.hashSecret, 'email', c.email);
      expect(await t.db.knex('suppressions').where({ email_hash: hash })).to.deep.equal([]);
      await s.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .type('form')
        .send({ csrf: s.csrf, reason: 'Caller asked: no more email, ticket 42' })
        .expect(303);
      await s.agent
        .post(`/admin/contacts/${c.id}/suppress`)
        .type('form')
        .send({ csrf: s.csrf, lift: 'yes', reason: 'Suppressed the wrong person' })
        .expect(303);
      const after = await s.agent.get(`/admin/contacts/${c.id}`).expect(200);
      expect(after.text).to.include('Reason: Caller asked: no more email, ticket 42');
      expect(after.text).to.include('Reason: Suppressed the wrong person');
      const phone = uniquePhone();
      await grantConsent(t.ctx, system, c.id, { phone, channels: ['sms'], method: 'api' });
      await s.agent
        .post(`/admin/contacts/${c.id}/consents/revoke`)
        .type('form')
        .send({ csrf: s.csrf, phone, channel: 'sms' })
        .expect(400);
      await s.agent
        .post(`/admin/contacts/${c.id}/consents/revoke`)
        .type('form')
        .send({ csrf: s.csrf, phone, channel: 'sms', reason: 'Said stop on a call' })
        .expect(303);
      const revoked = await t.db.knex('events').where({ contact_id: c.id, type: 'consent.revoked' }).first();
      expect(revoked.data.note).to.equal('Said stop on a call');
    });

    it('shows the full history and records consent on behalf only with a note', async () => {
      const a = await account();
      const c = await contact(a);
      const s = await signedIn('staff');
      const phone = uniquePhone();
      const noNote = await s.agent
        .post(`/admin/contacts/${c.id}/consents`)
        .type('form')
        .send({ csrf: s.csrf, phone, channels: 'sms', method: 'verbal', disclosureVersion: '1', note: '' })
        .expect(400);
      expect(noNote.text).to.include('note');
      expect(noNote.text).to.include('Nothing was changed');
      expect(await t.db.knex('consents').where({ contact_id: c.id })).to.deep.equal([]);
      await s.agent
        .post(`/admin/contacts/${c.id}/consents`)
        .type('form')
        .send(
          `csrf=${encodeURIComponent(s.csrf)}&phone=${encodeURIComponent(phone)}&channels=sms&channels=voice&method=verbal&disclosureVersion=1&note=Call+with+Zed%2C+ticket+77`,
        )
        .expect(303);
      const rows = await t.db.knex('consents').where({ contact_id: c.id }).orderBy('channel');
      expect(rows.map((r) => [r.channel, r.method, r.captured_by, r.note])).to.deep.equal([
        ['sms', 'verbal', `staff:${s.id}`, 'Call with Zed, ticket 77'],
        ['voice', 'verbal', `staff:${s.id}`, 'Call with Zed, ticket 77'],
      ]);
      const page = await s.agent.get(`/admin/contacts/${c.id}`).expect(200);
      // the history in plain words, newest first, the staff member by address
      const history = page.text.slice(page.text.indexOf('id="history"'));
      expect(history).to.include('Consent given');
      expect(history).to.include('Contact created');
      expect(history.indexOf('Consent given')).to.be.lessThan(history.indexOf('Contact created'));
      const staffEmail = (await t.db.knex('staff_users').where({ id: s.id }).first()).email;
      expect(history).to.include(`staff ${staffEmail}`);
      expect(page.text).to.include(`staff:${s.id}`); // the consent's evidence keeps the actor as recorded
      expect(page.text).to.include('Call with Zed, ticket 77');
    });

    it('pages a long history, 50 at a time, newest first, every event once', async () => {
      const c = await contact();
      for (let i = 0; i < 35; i++)
        for (const status of ['unsubscribed', 'subscribed'] as const)
          await setPreferences(t.ctx, system, c.id, [{ channel: 'email', topic: 'newsletter', status }]);
      const all = await t.db.knex('events').where({ contact_id: c.id }).orderBy('id', 'desc').select('id');
      expect(all.length).to.equal(71);
      const s = await signedIn('staff');
      const times: string[] = [];
      let href: string | null = `/admin/contacts/${c.id}`;
      let pages = 0;
      while (href) {
        const page: { text: string } = await s.agent.get(href).expect(200);
        const history = page.text.slice(page.text.indexOf('id="history"'));
        const rows = history.match(/<time datetime="[^"]+">/g) ?? [];
        expect(rows.length).to.be.at.most(50);
        times.push(...rows);
        const older: string | undefined = /<a href="([^"]+)">Older events<\/a>/.exec(history)?.[1];
        href = older ?? null;
        pages++;
      }
      expect(pages).to.equal(2);
      expect(times.length).to.equal(71);
    });

    it('records a consent given on paper on the day it was given, never in the future', async () => {
      const a = await account();
      const c = await contact(a);
      const s = await signedIn('staff');
      const phone = uniquePhone();
      const send = (givenOn: string) =>
        s.agent.post(`/admin/contacts/${c.id}/consents`).type('form').send({
          csrf: s.csrf,
          phone,
          channels: 'sms',
          method: 'written_agreement',
          disclosureVersion: '1',
          note: 'Paper form, box 3',
          givenOn,
        });
      const tomorrow = new Date(Date.now() + 2 * 86400_000).toISOString().slice(0, 10);
      expect((await send(tomorrow).expect(400)).text).to.include('today or before');
      expect((await send('2019-01-01').expect(400)).text).to.include('within the last two years');
      const lastWeek = new Date(Date.now() - 7 * 86400_000).toISOString().slice(0, 10);
      await send(lastWeek).expect(303);
      const row = await t.db.knex('consents').where({ contact_id: c.id }).first();
      expect(new Date(row.captured_at).toISOString()).to.equal(`${lastWeek}T12:00:00.000Z`);
    });

    it('erases (owner, typed confirmation) and leaves a keyed-hash suppression', async () => {
      const c = await contact();
      const s = await signedIn('owner');
      await s.agent
        .post(`/admin/contacts/${c.id}/erase`)
        .type('form')
        .send({ csrf: s.csrf, confirm: 'someone@else.com' })
        .expect(400);
      await s.agent
        .post(`/admin/contacts/${c.id}/erase`)
        .type('form')
        .send({ csrf: s.csrf, confirm: c.email.toUpperCase() })
        .expect(303);
      const row = await t.db.knex('contacts').where({ id: c.id }).first();
      const hash = keyedHash(t.ctx.config.hashSecret, 'email', c.email);
      expect(row).to.include({ email: hash, name: null });
      expect(await t.db.knex('suppressions').where({ email_hash: hash }).first()).to.include({
        reason: 'erasure',
      });
      await s.agent.get(`/admin/contacts/${c.id}`).expect(404);
    });

    it('creates an API key whose secret is shown once, and revokes it', async () => {
      const s = await signedIn('owner');
      const created = await s.agent
        .post('/admin/api-keys')
        .type('form')
        .send(`csrf=${encodeURIComponent(s.csrf)}&name=crm&scopes=check&scopes=events`)
        .expect(200);
      const secret = /class="mono secret">([^<]+)</.exec(created.text)?.[1] as string;
      expect(secret).to.be.a('string');
      await request(t.app).get('/api/v1/topics').set('Authorization', `Bearer ${secret}`).expect(200);
      const list = await s.agent.get('/admin/api-keys').expect(200);
      expect(list.text).not.to.include(secret);
      const id = /action="\/admin\/api-keys\/([0-9a-f-]+)\/revoke"/.exec(list.text)?.[1];
      await s.agent.post(`/admin/api-keys/${id}/revoke`).type('form').send({ csrf: s.csrf }).expect(303);
      await request(t.app).get('/api/v1/topics').set('Authorization', `Bearer ${secret}`).expect(401);
    });

    it('sets an agreement, and topics keep their kind once messages exist', async () => {
      const s = await signedIn('staff');
      const ext = uniqueId('acct');
      await s.agent
        .post('/admin/accounts')
        .type('form')
        .send({ csrf: s.csrf, externalId: ext, status: 'signed' })
        .expect(400);
      await s.agent
        .post('/admin/accounts')
        .type('form')
        .send({
          csrf: s.csrf,
          externalId: ext,
          name: 'New Co',
          status: 'signed',
          signedAt: '2026-03-01',
          reference: 'MSA-2',
        })
        .expect(303);
      expect(await t.db.knex('accounts').where({ external_id: ext }).first()).to.include({
        agreement_status: 'signed',
      });
      const slug = `t-${uniqueId('x').slice(-8)}`;
      const topic = (extra: object) => ({
        csrf: s.csrf,
        slug,
        name: 'Alerts',
        kind: 'operational',
        channels: 'email',
        ...extra,
      });
      await s.agent
        .post('/admin/topics')
        .type('form')
        .send(topic({ new: 'yes' }))
        .expect(303);
      await s.agent
        .post('/admin/topics')
        .type('form')
        .send(topic({ kind: 'marketing' }))
        .expect(400);
      await t.db.knex('messages').insert({
        to_email: 'x@example.com',
        from_email: 'a@b.c',
        topic: slug,
        subject: 's',
        status: 'sent',
        transport: 'outbox',
      });
      await s.agent
        .post('/admin/topics')
        .type('form')
        .send(topic({ kind: 'marketing', confirm: slug }))
        .expect(409);
      await s.agent
        .post('/admin/topics')
        .type('form')
        .send(topic({ name: 'Alerts and notices' }))
        .expect(303);
      expect(await t.db.knex('topics').where({ slug }).first()).to.include({
        kind: 'operational',
        name: 'Alerts and notices',
      });
    });
  });

  describe('import', () => {
    // the rows are written by a background job: this app works its jobs here
    before(() => t.ctx.jobs.start({ work: true }));
    after(() => t.ctx.jobs.stop());
    async function upload(s: Awaited<ReturnType<typeof signedIn>>, csv: string, checkOnly = false) {
      let post = s.agent.post('/admin/import').field('csrf', s.csrf).field('account', '');
      if (checkOnly) post = post.field('check_only', 'yes');
      const res = await post
        .attach('file', Buffer.from(csv), { filename: 'contacts.csv', contentType: 'text/csv' })
        .expect(303);
      return finished(s, res.headers.location.split('/').pop() as string);
    }
    async function finished(s: Awaited<ReturnType<typeof signedIn>>, id: string) {
      for (let i = 0; i < 200; i++) {
        const job = await t.db.knex('import_jobs').where({ id }).first();
        if (job.status === 'done' || job.status === 'failed' || job.status === 'checked')
          return { job, page: await s.agent.get(`/admin/import/${id}`).expect(200) };
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('import did not finish');
    }

    it('checks a file first: shows the first rows and every problem, writes nothing, then imports it on request', async () => {
      const s = await signedIn('staff');
      const a = await account();
      const first = uniqueEmail('chk');
      const csv = [
        'email,name,account,unsubscribed',
        `${first},First,${a},newsletter`,
        `${uniqueEmail('chk')},Second,,`,
        `${first.toUpperCase()},Same Person Again,,*`,
        `${uniqueEmail('chk')},Nowhere,no-such-account-${a},`,
        'broken,Bad,,',
      ].join('\n');
      const before = await t.db.knex('events').count({ n: '*' });
      const { job, page } = await upload(s, csv, true);
      expect(job).to.include({ status: 'checked', processed_rows: 5, imported_rows: 2, failed_rows: 3 });
      expect(await t.db.knex('events').count({ n: '*' }), 'a check writes nothing').to.deep.equal(before);
      expect(await t.db.knex('contacts').whereRaw('lower(email) = ?', [first])).to.deep.equal([]);
      expect(page.text).to.include('Checked: nothing was written.');
      // the list of imports says when each began as a person reads it, to the minute, in UTC
      const started = new Date(job.created_at).toISOString();
      expect((await s.agent.get('/admin/import').expect(200)).text).to.include(
        `<time datetime="${started}">${started.slice(0, 16).replace('T', ' ')} UTC</time>`,
      );
      expect(page.text).to.include(`<td>${first}</td>`); // the first rows, as read
      expect(page.text).to.include('the same address as line 2');
      expect(page.text).to.include('Create it on the <a href="/admin/accounts">Accounts page</a>');
      // the failed rows, as the file had them, with line and problem, ready to fix
      const failedCsv = await s.agent.get(`/admin/import/${job.id}/failed.csv`).expect(200);
      expect(failedCsv.headers['content-type']).to.match(/^text\/csv/);
      const lines = failedCsv.text.trim().split('\n');
      expect(lines[0]).to.match(/^line,problem,email,name,phone,account,/);
      expect(lines).to.have.length(4);
      expect(lines[1]).to.match(/^4,"?email: the same address as line 2/);
      expect(lines[1]).to.include('Same Person Again');
      // Import it: the same file, from the first row; the good rows land, once.
      await s.agent.post(`/admin/import/${job.id}/run`).type('form').send({ csrf: s.csrf }).expect(303);
      const done = await finished(s, job.id);
      expect(done.job).to.include({ status: 'done', imported_rows: 2, failed_rows: 3 });
      const row = await t.db.knex('contacts').whereRaw('lower(email) = ?', [first]).first();
      expect(row.name).to.equal('First'); // the later row for the same person did not overwrite it
      // pressed again: nothing more happens
      await s.agent.post(`/admin/import/${job.id}/run`).type('form').send({ csrf: s.csrf }).expect(303);
      expect(await t.db.knex('import_jobs').where({ id: job.id }).first()).to.include({ status: 'done' });
    });

    it('names the line a file stops at and what to mend; the whole file again writes the rest, nothing twice', async () => {
      const s = await signedIn('staff');
      const [ann, bob, bad, after] = ['stop', 'stop', 'stop', 'stop'].map(uniqueEmail);
      const rows = (badName: string) =>
        ['email,name', `${ann},"Ann\r\nLee"`, `${bob},Bob`, `${bad},${badName}`, `${after},After`].join(
          '\r\n',
        );
      const { job, page } = await upload(s, rows('Bad "quote here'));
      expect(job).to.include({ status: 'failed', processed_rows: 2, imported_rows: 2 });
      expect(page.text).to.include('The file was not read to its end');
      expect(page.text).to.include(
        'The import stopped at line 5: a quote in the middle of a value (column &#34;name&#34;).',
      );
      expect(page.text).to.include('upload the whole file again');
      expect(page.text, 'no row of the file is listed as not imported').not.to.include('Rows not imported');
      const eventsOf = async (email: string) =>
        Number(
          (
            await t.db
              .knex('events')
              .join('contacts', 'contacts.id', 'events.contact_id')
              .whereRaw('lower(contacts.email) = ?', [email])
              .count({ n: '*' })
              .first()
          )?.n,
        );
      expect(await eventsOf(ann)).to.equal(1);
      // mended as the page says, the whole file again
      const again = await upload(s, rows('"Bad ""quote"" here"'));
      expect(again.job).to.include({ status: 'done', processed_rows: 4, imported_rows: 4, failed_rows: 0 });
      for (const email of [ann, bob]) expect(await eventsOf(email), email).to.equal(1);
      for (const email of [bad, after]) expect(await eventsOf(email), email).to.equal(1);
      const mended = await t.db.knex('contacts').whereRaw('lower(email) = ?', [bad]).first();
      expect(mended.name).to.equal('Bad "quote" here');
      // a check that stops says to check the file again, and that nothing was written
      const check = await upload(s, rows('Bad "quote here'), true);
      expect(check.job.status).to.equal('failed');
      expect(check.page.text).to.include(
        'nothing was written. Mend it there and check the whole file again.',
      );
      expect(check.page.text).not.to.include('upload the whole file again');
    });

    it('imports good rows, reports bad ones by line number, and writes nothing of a failed row', async () => {
      const s = await signedIn('staff');
      const a = await account();
      const good1 = uniqueEmail('imp');
      const good2 = uniqueEmail('imp');
      const badTopic = uniqueEmail('imp');
      const csv = [
        'email,name,phone,account,unsubscribed,suppressed',
        `${good1},Ann Import,,${a},newsletter;sms:offers,`,
        'not-an-email,Bad,,,,',
        `${badTopic},Half Row,,,nosuchtopic,`,
        `${good2},"Bob, Jr.",,,*,bounce`,
        `${uniqueEmail('imp')},Bad Account,,no-such-account,,`,
      ].join('\n');
      const { job, page } = await upload(s, csv);
      expect(job).to.include({ status: 'done', processed_rows: 5, imported_rows: 2, failed_rows: 3 });
      expect(page.text).to.include('<td>3</td>');
      expect(page.text).to.include('<td>4</td>');
      expect(page.text).to.include('<td>6</td>');
      expect(page.text).to.include('nosuchtopic');
      expect(await t.db.knex('contacts').whereRaw('lower(email) = ?', [badTopic])).to.deep.equal([]);
      const ann = await t.db.knex('contacts').whereRaw('lower(email) = ?', [good1]).first();
      expect(ann.name).to.equal('Ann Import');
      const prefs = await t.db.knex('preferences').where({ contact_id: ann.id }).orderBy('channel');
      expect(prefs.map((p) => `${p.channel}:${p.topic}:${p.status}`)).to.deep.equal([
        'email:newsletter:unsubscribed',
        'sms:offers:unsubscribed',
      ]);
      const events = await t.db.knex('events').where({ contact_id: ann.id });
      expect(new Set(events.map((e) => e.actor))).to.deep.equal(new Set([`import:${job.id}`]));
      const bob = await t.db.knex('contacts').whereRaw('lower(email) = ?', [good2]).first();
      expect(bob.suppressed).to.equal(true);
      // the stored upload is gone once the import ended
      expect(await t.db.knex('import_uploads').where({ import_id: job.id })).to.deep.equal([]);
    });

    it("lets a customer administrator import into their own account only, never taking another account's contact", async () => {
      const mineAcct = await account();
      const otherAcct = await account();
      const theirs = await contact(otherAcct, 'Theirs');
      const s = await signedIn('customer_admin', mineAcct);
      const page = await s.agent.get('/admin/import').expect(200);
      expect(page.text).to.include('Every row goes into your account');
      expect(page.text).not.to.include('name="account"');
      // a new account has no imports: the list says so rather than showing bare headings
      expect(page.text).to.include('No imports yet');
      const fresh = uniqueEmail('own');
      const csv = [
        'email,name,account',
        `${fresh},Fresh,`,
        `${uniqueEmail('own')},Elsewhere,${otherAcct}`,
        `${theirs.email},Taken Over,`,
      ].join('\n');
      const { job, page: result } = await upload(s, csv);
      expect(job).to.include({ status: 'done', imported_rows: 1, failed_rows: 2, account_only: true });
      expect(result.text).to.include(`this import is for account &#34;${mineAcct}&#34; only`);
      expect(result.text).to.include('a contact of another account');
      const mineId = (await t.db.knex('accounts').where({ external_id: mineAcct }).first()).id;
      expect((await t.db.knex('contacts').whereRaw('lower(email) = ?', [fresh]).first()).account_id).to.equal(
        mineId,
      );
      const still = await t.db.knex('contacts').where({ id: theirs.id }).first();
      expect(still).to.include({ name: 'Theirs' });
      expect(still.account_id).to.not.equal(mineId);
      // another account's import is not theirs to see
      const staff = await signedIn('staff');
      const other = await upload(staff, `email\n${uniqueEmail('x')}\n`);
      await s.agent.get(`/admin/import/${other.job.id}`).expect(404);
      await s.agent.get(`/admin/import/${other.job.id}/failed.csv`).expect(404);
      const list = await s.agent.get('/admin/import').expect(200);
      expect(list.text).to.include(`/admin/import/${job.id}`);
      expect(list.text).not.to.include(`/admin/import/${other.job.id}`);
      expect(list.text).not.to.include('No imports yet');
    });

    it('refuses an upload without the CSRF field', async () => {
      const s = await signedIn('staff');
      await s.agent
        .post('/admin/import')
        .attach('file', Buffer.from('email\na@b.co\n'), { filename: 'x.csv', contentType: 'text/csv' })
        .expect(403);
    });
  });

  describe('webhooks page (owners)', () => {
    it('adds an endpoint showing its secret once, lists it, and is closed to other roles', async () => {
      const s = await signedIn('owner');
      const page = await s.agent
        .post('/admin/webhooks')
        .type('form')
        .send(
          `csrf=${encodeURIComponent(s.csrf)}&url=${encodeURIComponent('http://127.0.0.1:9/hooks')}&events=preference.changed&events=consent.revoked`,
        )
        .expect(200);
      expect(page.text).to.match(/whsec_[A-Za-z0-9+/=]{40,}/);
      const id = /\/admin\/webhooks\/([0-9a-f-]{36})\/test/.exec(page.text)?.[1] as string;
      const list = await s.agent.get('/admin/webhooks').expect(200);
      expect(list.text).to.include('http://127.0.0.1:9/hooks');
      expect(list.text).not.to.match(/whsec_/);
      const detail = await s.agent.get(`/admin/webhooks/${id}`).expect(200);
      expect(detail.text).not.to.match(/whsec_/);
      const test = await s.agent
        .post(`/admin/webhooks/${id}/test`)
        .type('form')
        .send({ csrf: s.csrf })
        .expect(200);
      expect(test.text).to.include('No answer');
      await s.agent
        .post(`/admin/webhooks/${id}/first-party`)
        .type('form')
        .send({ csrf: s.csrf, firstParty: 'true' })
        .expect(303);
      expect((await t.db.knex('webhook_endpoints').where({ id }).first()).first_party).to.equal(true);
      await s.agent.post(`/admin/webhooks/${id}/delete`).type('form').send({ csrf: s.csrf }).expect(303);
      expect(await t.db.knex('webhook_endpoints').where({ id })).to.deep.equal([]);
      const staff = await signedIn('staff');
      await staff.agent.get('/admin/webhooks').expect(403);
    });
  });

  describe('outbox page', () => {
    it('lists messages and links to the unsubscribe page of one', async () => {
      const c = await contact();
      const sendAuth = (await apiKeyFor(t, ['send'])).auth;
      const sent = await request(t.app)
        .post('/api/v1/messages')
        .set('Authorization', sendAuth)
        .send({ to: c.email, topic: 'offers', subject: 'Spring <sale>', text: 'Bye {{unsubscribe_url}}' })
        .expect(202);
      const s = await signedIn('staff');
      const list = await s.agent.get('/admin/outbox').expect(200);
      expect(list.text).to.include('Spring &lt;sale&gt;');
      const one = await s.agent.get(`/admin/outbox/${sent.body.id}`).expect(200);
      const link = /href="(http:\/\/console\.test\/u\/[^"]+)"/.exec(one.text)?.[1] as string;
      await request(t.app).get(new URL(link).pathname).expect(200);
    });
  });
});

describe('GET /api/v1/events and console exports at volume', () => {
  it('streams 100,000 ledger rows in order with flat memory, resumable with after= @slow', async function () {
    this.timeout(180_000);
    const fresh = await freshDb();
    try {
      await migrateLatest(fresh.db.knex);
      const t = await testApp({ db: fresh.db, env: { BASE_URL: 'http://console.test' } });
      // Rows written straight in: this measures export, not appends (the chain is not verified here).
      await fresh.db.knex.raw(
        `insert into events (occurred_at, chain, type, actor, new_value, hash)
         select now() - (100000 - g) * interval '1 second', 'system', 'preference.changed', 'system', 'v' || g, 'h'
         from generate_series(1, 100000) g`,
      );
      const key = (await apiKeyFor(t, ['events'])).auth;
      await request(t.app).get('/api/v1/events').expect(401);
      await request(t.app).get('/api/v1/events?format=xml').set('Authorization', key).expect(400);
      const server = http.createServer(t.app).listen(0);
      const { port } = server.address() as AddressInfo;
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 50);
      try {
        const read = (path: string) =>
          new Promise<{ lines: number; lastId: number; ordered: boolean; type: string; cursors: string[] }>(
            (resolve, reject) => {
              http
                .get({ port, path, headers: { authorization: key } }, (res) => {
                  let lines = 0;
                  let rest = '';
                  let lastId = 0;
                  let ordered = true;
                  const cursors: string[] = [];
                  res.setEncoding('utf8');
                  res.on('data', (chunk: string) => {
                    const parts = (rest + chunk).split('\n');
                    rest = parts.pop() ?? '';
                    for (const p of parts) {
                      let id: number;
                      if (path.includes('csv')) id = Number(p.split(',')[0]);
                      else {
                        const ev = JSON.parse(p);
                        id = ev.id;
                        // only the last few cursors are kept: the reader must not be what grows
                        cursors.push(ev.cursor);
                        if (cursors.length > 11) cursors.shift();
                      }
                      if (Number.isNaN(id)) continue; // csv header
                      if (id <= lastId) ordered = false;
                      lastId = id;
                      lines++;
                    }
                  });
                  res.on('end', () =>
                    resolve({ lines, lastId, ordered, type: String(res.headers['content-type']), cursors }),
                  );
                  res.on('error', reject);
                })
                .on('error', reject);
            },
          );
        const all = await read('/api/v1/events');
        expect(all.type).to.match(/application\/x-ndjson/);
        expect(all.lines).to.be.at.least(100_000);
        expect(all.ordered).to.equal(true);
        const resumed = await read(`/api/v1/events?after=${all.cursors[0]}`);
        expect(resumed.lines).to.equal(10);
        const csv = await read('/api/v1/events?format=csv');
        expect(csv.lines).to.equal(all.lines);
        expect(peak - before).to.be.lessThan(150 * 1024 * 1024);
      } finally {
        clearInterval(sampler);
        server.close();
      }
    } finally {
      await fresh.drop();
    }
  });
});

describe('console search a support agent can use', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp({ env: { BASE_URL: 'http://console.test' } });
  });
  it('finds a person by any spelling of their number, its last four digits, a name without accents, or a domain', async () => {
    const s = await signedInStaff(t, 'staff');
    const tag = randomBytes(3).toString('hex').replace(/\d/g, 'x');
    const domain = `d${tag}.example`;
    const email = `jose.${tag}@${domain}`;
    const phone = uniquePhone(); // +1415…
    const national = `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`;
    await upsertContact(t.ctx, system, email, { name: `José Zaragoza${tag}`, phone });
    const find = async (q: string, status = '') =>
      (await s.agent.get(`/admin/contacts?q=${encodeURIComponent(q)}&status=${status}`).expect(200)).text;
    for (const q of [
      national,
      `${phone.slice(2, 5)}.${phone.slice(5, 8)}.${phone.slice(8)}`,
      `+1 ${phone.slice(2, 5)} ${phone.slice(5, 8)} ${phone.slice(8)}`,
      phone.slice(-4),
      `jose zaragoza${tag}`,
      `JOSÉ ZARAGOZA${tag.toUpperCase()}`,
      `zaragoza${tag}`,
      domain,
      `@${domain}`,
    ]) {
      expect(await find(q), q).to.include(email);
    }
    const one = await find(domain);
    expect(one).to.include('1 contact · page 1');
    expect(one).to.match(/<td>subscribed<\/td>/);
    // status filters, with the state in its own column
    await t.db
      .knex('contacts')
      .where({ email_key: email })
      .update({ paused_until: new Date(Date.now() + 86400_000) });
    expect(await find(domain, 'paused')).to.include(email);
    expect(await find(domain, 'subscribed')).to.include('No contacts match');
    expect(await find(domain, 'paused')).to.match(/<td>paused<\/td>/);
    expect(await find('nobody-here-at-all', '')).to.include('No contacts match');
  });
});
