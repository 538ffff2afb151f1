// Several web processes on one database behave as one (SPEC "Operations"): two real app
// processes on one PostgreSQL share "email me my link" limits, Idempotency-Keys, webhook replay
// protection and the sign-in throttle. Runs when DATABASE_URL is set (CI's slow tier).
import { generateKeyPairSync, sign } from 'node:crypto';
import { expect } from 'chai';
import { migrateLatest } from '../../db/migrate.ts';
import { type FreshDb, freshDb } from '../support/db.ts';
import { baseEnv, type Running, runCli, startServer } from '../support/process.ts';

if (process.env.DATABASE_URL) {
  describe('two web processes on one database @slow', function () {
    this.timeout(120_000);
    let fresh: FreshDb;
    let a: Running;
    let b: Running;
    let apiKey = '';
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    before(async () => {
      fresh = await freshDb();
      await migrateLatest(fresh.db.knex);
      const env = baseEnv({
        DATABASE_URL: fresh.url,
        BASE_URL: 'http://prefs.local',
        TRUST_PROXY: '1',
        SENDGRID_WEBHOOK_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      });
      const key = runCli(['apikey:create', '--name', 'two', '--scopes', 'send,contacts,check'], env);
      apiKey = key.stdout.trim().split('\n').pop() as string;
      const admin = runCli(
        [
          'admin:create',
          '--email',
          'two@example.com',
          '--password',
          'correct horse battery',
          '--role',
          'owner',
        ],
        env,
      );
      expect(admin.code, admin.stderr).to.equal(0);
      [a, b] = await Promise.all([startServer(env), startServer(env)]);
    });
    after(async () => {
      for (const s of [a, b]) {
        s?.child.kill('SIGTERM');
        await s?.exited;
      }
      await fresh?.drop();
    });
    const url = (s: Running, path: string) => `http://127.0.0.1:${s.port}${path}`;

    /** A form page's CSRF token and the cookies it set. */
    async function form(s: Running, path: string, ip: string) {
      const res = await fetch(url(s, path), { headers: { 'x-forwarded-for': ip } });
      const html = await res.text();
      const cookie = (res.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
      return { csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '', cookie };
    }
    async function postForm(
      s: Running,
      path: string,
      fields: Record<string, string>,
      ip: string,
      cookie = '',
    ) {
      const res = await fetch(url(s, path), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip, cookie },
        body: new URLSearchParams(fields).toString(),
      });
      await res.arrayBuffer();
      return res.status;
    }

    it('"email me my link": 3 per address per hour across both', async () => {
      const email = 'shared.limit@example.com';
      const statuses: number[] = [];
      for (const [i, s] of [a, b, a, b].entries()) {
        const ip = `198.51.100.${10 + i}`;
        const f = await form(s, '/preferences', ip);
        statuses.push(await postForm(s, '/preferences', { email, csrf: f.csrf }, ip));
      }
      expect(statuses).to.deep.equal([200, 200, 200, 429]);
    });

    it('an Idempotency-Key used on one is replayed by the other', async () => {
      const send = (s: Running) =>
        fetch(url(s, '/api/v1/messages'), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${apiKey}`,
            'content-type': 'application/json',
            'idempotency-key': 'two-1',
          },
          body: JSON.stringify({
            to: 'receipt@example.com',
            topic: 'account',
            subject: 'Receipt',
            text: 'Thanks.',
          }),
        });
      const first = await send(a);
      expect(first.status).to.equal(202);
      const firstBody = await first.json();
      const second = await send(b);
      expect(second.status).to.equal(202);
      expect(second.headers.get('idempotent-replayed')).to.equal('true');
      expect(await second.json()).to.deep.equal(firstBody);
      const rows = await fresh.db.knex('messages').where({ to_email: 'receipt@example.com' });
      expect(rows).to.have.length(1);
    });

    it('a SendGrid event applied by one is a duplicate to the other', async () => {
      const body = JSON.stringify([
        { event: 'spamreport', email: 'spam@example.com', sg_event_id: 'two-proc-1', timestamp: 1 },
      ]);
      const post = (s: Running) => {
        const ts = String(Math.floor(Date.now() / 1000));
        return fetch(url(s, '/webhooks/sendgrid'), {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'X-Twilio-Email-Event-Webhook-Timestamp': ts,
            'X-Twilio-Email-Event-Webhook-Signature': sign(
              'sha256',
              Buffer.from(ts + body),
              privateKey,
            ).toString('base64'),
          },
          body,
        }).then((r) => r.json());
      };
      expect(await post(a)).to.include({ applied: 1, duplicate: 0 });
      expect(await post(b)).to.include({ applied: 0, duplicate: 1 });
    });

    it('reserving checks on both stop at a Florida number’s limit of 3 per 24 hours', async () => {
      const api = (s: Running, method: string, path: string, body: object) =>
        fetch(url(s, path), {
          method,
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      await api(a, 'PUT', '/api/v1/accounts/two-acct', {
        agreement: { status: 'signed', signedAt: '2026-01-01', reference: 'MSA-2' },
      });
      // a time zone where it is midday now, so the hours never get in the way of the count
      const offset = 12 - new Date().getUTCHours();
      const zone = offset === 0 ? 'Etc/GMT' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
      await api(a, 'PUT', '/api/v1/contacts/fl@example.com', {
        accountExternalId: 'two-acct',
        timeZone: zone,
      });
      const phone = '+13055550142';
      const granted = await api(a, 'POST', '/api/v1/contacts/fl@example.com/consents', {
        phone,
        channels: ['sms'],
        method: 'api',
        disclosureVersion: 1,
        capturedAt: new Date().toISOString(),
      });
      expect(granted.status).to.equal(201);
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          api(i % 2 ? a : b, 'POST', '/api/v1/send-permission', {
            channel: 'sms',
            recipient: phone,
            topic: 'offers',
            reserve: true,
          }).then((r) => r.json()),
        ),
      );
      expect(answers.filter((x) => x.allowed)).to.have.length(3);
      expect(answers.filter((x) => x.reason === 'frequency_limit')).to.have.length(7);
    });

    it('sign-in failures on one count on the other', async () => {
      const ip = '198.51.100.77';
      const statuses: number[] = [];
      for (const s of [a, b, a, b]) {
        const f = await form(s, '/admin/login', ip);
        statuses.push(
          await postForm(
            s,
            '/admin/login',
            { email: 'two@example.com', password: 'wrong', csrf: f.csrf },
            ip,
            f.cookie,
          ),
        );
      }
      expect(statuses).to.deep.equal([401, 401, 401, 429]);
    });
  });
}
