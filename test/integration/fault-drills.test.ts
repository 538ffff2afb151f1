// Fault drills: opt-outs arriving through provider webhooks while the real PostgreSQL connection
// is cut or hangs, at the worst moment (mid-batch, mid-transaction). After the provider's retry,
// or the spool's replay, every opt-out is applied exactly once. Needs a real server to cut: runs
// when DATABASE_URL is set (CI's PostgreSQL run); PGlite has no connection to cut.
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import twilio from 'twilio';
import { ADDRESS_LOCK } from '../../db/migrations/20261127000700_address_locks.ts';
import { createApp } from '../../server/app.ts';
import { grantConsent } from '../../server/consent/service.ts';
import { suppressIn, upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { runImportJob } from '../../server/imports/service.ts';
import { keyedHash } from '../../server/keyed-hash.ts';
import { mailtoCode, signToken } from '../../server/tokens/tokens.ts';
import {
  apiKeyFor,
  type TestApp,
  testApp,
  testConfig,
  uniqueEmail,
  uniqueId,
  uniquePhone,
} from '../support/app.ts';
import { formOf, pressOf } from '../support/forms.ts';
import { uploadedImport } from '../support/imports.ts';
import { type DbProxy, proxiedDb } from '../support/proxy.ts';

const system = { actor: 'system' as const };
const TWILIO_TOKEN = 'twilio-test-auth-token-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (process.env.DATABASE_URL) {
  describe('fault drills (PostgreSQL connection cut and hung) @slow', function () {
    this.timeout(120_000);
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const env = {
      SENDGRID_WEBHOOK_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
      WEBHOOK_DB_BUDGET_MS: '1500',
      INBOUND_EMAIL_DOMAIN: 'unsub.drill.example',
      INBOUND_EMAIL_TOKEN: 'drill-inbound-secret-0123456789',
    };
    let t: TestApp;
    let p: DbProxy;
    let app: ReturnType<typeof createApp>;
    let dataDir: string;
    /** When set, sees each piece the app sends its database, before the proxy passes it on. */
    let watchSent: ((chunk: Buffer) => void) | null = null;
    before(async () => {
      t = await testApp({ env });
      p = await proxiedDb(undefined, {
        statementTimeoutMs: 3000,
        tap: () => (chunk) => watchSent?.(chunk),
      });
      dataDir = mkdtempSync(path.join(tmpdir(), 'pc-drill-'));
      app = createApp({ config: testConfig(env, dataDir), db: p.db });
    });
    after(async () => {
      await p.close();
    });
    afterEach(async () => {
      watchSent = null;
      await p.restore();
    });

    function signed(body: string, key: KeyObject) {
      const ts = String(Math.floor(Date.now() / 1000));
      return {
        'X-Twilio-Email-Event-Webhook-Signature': sign('sha256', Buffer.from(ts + body), key).toString(
          'base64',
        ),
        'X-Twilio-Email-Event-Webhook-Timestamp': ts,
        'Content-Type': 'application/json',
      };
    }
    const postEvents = (body: string) =>
      request(app).post('/webhooks/sendgrid').set(signed(body, privateKey)).send(body);

    async function people(n: number) {
      const out: { email: string; id: string }[] = [];
      for (let i = 0; i < n; i++) {
        const email = uniqueEmail('drill');
        out.push({ email, id: (await upsertContact(t.ctx, system, email, {})).contact.id as string });
      }
      return out;
    }
    const optOuts = (who: { email: string }[], tag: string) =>
      JSON.stringify(
        who.map((w, i) => ({
          email: w.email,
          event: 'unsubscribe',
          sg_event_id: `drill-${tag}-${i}`,
          timestamp: 1795600000 + i,
        })),
      );
    /** How many "all marketing email off" events each person has on the ledger. */
    async function optOutEvents(who: { id: string }[]) {
      const rows = await t.db
        .knex('events')
        .whereIn(
          'contact_id',
          who.map((w) => w.id),
        )
        .where({ type: 'preference.changed', channel: 'email', topic: '*', new_value: 'unsubscribed' })
        .select('contact_id');
      return who.map((w) => rows.filter((r) => r.contact_id === w.id).length);
    }
    async function waitFor(cond: () => Promise<boolean>, ms = 10_000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (await cond()) return;
        await sleep(20);
      }
      throw new Error('condition not met in time');
    }

    // Each round cuts (or hangs) the connection while a batch of opt-outs is being applied, so
    // some events have landed and some have not; SendGrid then delivers the same batch again.
    for (const fault of ['cut', 'hang'] as const) {
      it(`SendGrid: a batch ${fault === 'cut' ? 'cut' : 'hung'} mid-way is answered 503 and its redelivery applies every opt-out once (3 rounds of 60)`, async () => {
        let lost = 0;
        let total = 0;
        for (let round = 0; round < 3; round++) {
          const who = await people(60);
          const body = optOuts(who, `${fault}-${round}-${randomBytes(3).toString('hex')}`);
          const first = postEvents(body).then((r) => r);
          // the worst moment: some of the batch applied, the rest not yet
          await waitFor(async () => (await optOutEvents(who)).some((n) => n > 0));
          if (fault === 'cut') await p.cut();
          else p.hang();
          const res = await first;
          expect(res.status, JSON.stringify(res.body)).to.equal(503);
          expect(res.body.error.code).to.equal('unavailable');
          expect(res.body.pending).to.be.greaterThan(0);
          expect(res.body.applied).to.be.lessThan(60);

          await p.restore();
          // SendGrid's redelivery (it may come while the database is still recovering)
          let again = await postEvents(body);
          for (let i = 0; i < 20 && again.status !== 200; i++) {
            await sleep(250);
            again = await postEvents(body);
          }
          expect(again.status).to.equal(200);
          expect(again.body.applied + again.body.duplicate).to.equal(60);
          const counts = await optOutEvents(who);
          lost += counts.filter((n) => n === 0).length;
          total += who.length;
          expect(
            counts.every((n) => n === 1),
            `each opted out once: ${counts.join(',')}`,
          ).to.equal(true);
        }
        expect(lost, `opt-outs lost of ${total}`).to.equal(0);
      });
    }

    async function consenting() {
      const account = uniqueId('drill');
      await upsertAccount(t.ctx, system, account, {
        agreement: { status: 'signed', signedAt: new Date('2026-01-02T00:00:00Z'), reference: 'MSA-1' },
      });
      const email = uniqueEmail('drill');
      const { contact } = await upsertContact(t.ctx, system, email, { accountExternalId: account });
      const phone = uniquePhone();
      await grantConsent(t.ctx, system, contact.id, { phone, channels: ['sms', 'voice'], method: 'api' });
      return { id: contact.id as string, phone };
    }
    function inbound(from: string, body: string, sid = `SM${randomBytes(16).toString('hex')}`) {
      const params = { MessageSid: sid, SmsMessageSid: sid, From: from, To: '+18005550100', Body: body };
      const url = 'https://prefs.example.test/webhooks/sms';
      return { params, signature: twilio.getExpectedTwilioSignature(TWILIO_TOKEN, url, params) };
    }
    const text = (m: ReturnType<typeof inbound>) =>
      request(app).post('/webhooks/sms').set('X-Twilio-Signature', m.signature).type('form').send(m.params);
    async function revocations(id: string) {
      const rows = await t.db
        .knex('events')
        .where({ contact_id: id, type: 'consent.revoked' })
        .select('channel');
      return rows.map((r) => r.channel).sort();
    }

    for (const fault of ['cut', 'hang'] as const) {
      it(`SMS: STOPs during a database ${fault} are spooled, confirmed, and applied once when it returns, Twilio retries included (3 rounds of 5)`, async () => {
        let total = 0;
        let lost = 0;
        for (let round = 0; round < 3; round++) {
          const people = await Promise.all([1, 2, 3, 4, 5].map(() => consenting()));
          const texts = people.map((c) => inbound(c.phone, 'STOP'));
          if (fault === 'cut') await p.cut();
          else p.hang();
          for (const m of texts) {
            const res = await text(m);
            expect(res.status).to.equal(200);
            expect(res.text).to.include('Reply START');
          }
          expect(await app.locals.ctx.spool.depth()).to.equal(5);
          // a START is not an opt-out: it is refused for Twilio to retry, never spooled
          const start = await text(inbound(people[0].phone, 'START'));
          expect(start.status).to.equal(503);
          expect(await app.locals.ctx.spool.depth()).to.equal(5);

          await p.restore();
          // Twilio retries one text (its answer was lost) before the spool drains
          let retry = await text(texts[0]);
          for (let i = 0; i < 20 && retry.status !== 200; i++) {
            await sleep(250);
            retry = await text(texts[0]);
          }
          expect(retry.status).to.equal(200);
          let drained = await app.locals.ctx.spool.drain();
          for (let i = 0; i < 20 && drained.left > 0; i++) {
            await sleep(250);
            drained = await app.locals.ctx.spool.drain();
          }
          expect(drained.left).to.equal(0);
          expect(await app.locals.ctx.spool.depth()).to.equal(0);
          // a hung transaction may commit late: wait for the connections to settle
          await sleep(200);
          for (const c of people) {
            const r = await revocations(c.id);
            total++;
            if (r.length === 0) lost++;
            expect(r, 'texts and calls revoked once each').to.deep.equal(['sms', 'voice']);
          }
        }
        expect(lost, `opt-outs lost of ${total}`).to.equal(0);
      });
    }

    for (const fault of ['cut', 'hang'] as const) {
      it(`one-click: unsubscribes during a database ${fault} are answered 200, spooled and applied when it returns (2 rounds of 5)`, async () => {
        let lost = 0;
        for (let round = 0; round < 2; round++) {
          const who = await people(5);
          if (fault === 'cut') await p.cut();
          else p.hang();
          for (const w of who) {
            const token = signToken(t.ctx.config.tokenKeys, {
              purpose: 'unsubscribe',
              contactId: w.id,
              topic: 'newsletter',
            });
            const res = await request(app)
              .post(`/u/${token}`)
              .type('form')
              .send('List-Unsubscribe=One-Click');
            expect(res.status).to.equal(200);
          }
          await p.restore();
          let drained = await app.locals.ctx.spool.drain();
          for (let i = 0; i < 20 && drained.left > 0; i++) {
            await sleep(250);
            drained = await app.locals.ctx.spool.drain();
          }
          await sleep(200);
          for (const w of who) {
            const rows = await t.db.knex('events').where({
              contact_id: w.id,
              type: 'preference.changed',
              topic: 'newsletter',
              new_value: 'unsubscribed',
            });
            if (rows.length !== 1) lost++;
          }
        }
        expect(lost, 'one-click opt-outs lost of 10').to.equal(0);
      });
    }

    for (const fault of ['cut', 'hang'] as const) {
      it(`mailto: unsubscribes by mail during a database ${fault} are spooled or retried, and applied once (2 rounds of 5)`, async () => {
        const mail = (to: string) =>
          request(app)
            .post('/webhooks/inbound-email/drill-inbound-secret-0123456789')
            .field('to', to)
            .field('envelope', JSON.stringify({ to: [to], from: 'someone@example.com' }));
        let lost = 0;
        for (let round = 0; round < 2; round++) {
          const who = await people(5);
          const addresses = who.map(
            (w) => `u+${mailtoCode(t.ctx.config.tokenKeys, w.id, 'newsletter')}@unsub.drill.example`,
          );
          if (fault === 'cut') await p.cut();
          else p.hang();
          // What SendGrid gets during the fault: 200 (spooled) or 503 (it posts the message again).
          const first = [];
          for (const to of addresses) first.push((await mail(to)).status);
          expect(
            first.every((st) => st === 200 || st === 503),
            String(first),
          ).to.equal(true);
          await p.restore();
          for (const [i, to] of addresses.entries())
            if (first[i] !== 200) expect((await mail(to)).status).to.equal(200);
          let drained = await app.locals.ctx.spool.drain();
          for (let i = 0; i < 20 && drained.left > 0; i++) {
            await sleep(250);
            drained = await app.locals.ctx.spool.drain();
          }
          for (const w of who) {
            const rows = await t.db.knex('events').where({
              contact_id: w.id,
              type: 'preference.changed',
              topic: 'newsletter',
              new_value: 'unsubscribed',
            });
            if (rows.length !== 1) lost++;
          }
        }
        expect(lost, 'mailto opt-outs lost (or applied twice) of 10').to.equal(0);
      });
    }

    // A cut fails the save at once ("temporarily unavailable, nothing changed"); a hang gets the
    // budget, then an honest "not confirmed yet, send again" (the hung write may still land when
    // the connection comes back). Either way, sent again, each change is on the ledger once.
    for (const fault of ['cut', 'hang'] as const) {
      it(`preference page: a save during a database ${fault} changes nothing and says so; sent again, it applies once`, async () => {
        const [w] = await people(1);
        const path = `/preferences/${signToken(t.ctx.config.tokenKeys, { purpose: 'preferences', contactId: w.id, topic: null })}`;
        const page = await request(app).get(path).expect(200);
        const form = formOf(page.text);
        form.delete('topic', 'email:newsletter');
        form.set('pause', '30');
        if (fault === 'cut') await p.cut();
        else p.hang();
        const started = Date.now();
        const during = await request(app).post(path).type('form').send(form.toString());
        expect(during.status).to.equal(503);
        if (fault === 'cut') {
          expect(during.text).to.include('Temporarily unavailable');
          await p.restore();
          expect(
            await t.db.knex('events').where({ contact_id: w.id, type: 'preference.changed' }),
          ).to.deep.equal([]);
        } else {
          expect(during.text).to.include('Not confirmed yet').and.include('send the form again');
          expect(Date.now() - started, 'answered within the budget').to.be.below(1500 + 1000);
          await p.restore();
        }
        await request(app).post(path).type('form').send(form.toString()).expect(303);
        await sleep(500); // a hung save that lands late lands now
        const changed = await t.db.knex('events').where({ contact_id: w.id, type: 'preference.changed' });
        expect(changed.map((e) => e.new_value).sort()).to.deep.equal(['paused', 'unsubscribed']);
      });
    }

    // The unsubscribe page's buttons share a form and send their own action: pressed while the
    // database is cut or hangs, nothing is claimed; pressed again, the opt-out is on the ledger once.
    for (const fault of ['cut', 'hang'] as const) {
      it(`unsubscribe page: the button pressed during a database ${fault} is not claimed done; pressed again, it applies once`, async () => {
        const [w] = await people(1);
        const link = `/u/${signToken(t.ctx.config.tokenKeys, { purpose: 'unsubscribe', contactId: w.id, topic: 'newsletter' })}`;
        const page = await request(app).get(link).expect(200);
        const press = pressOf(page.text, 'action', 'topic');
        expect(press.action).to.equal(link);
        if (fault === 'cut') await p.cut();
        else p.hang();
        const during = await request(app).post(press.action).type('form').send(press.body.toString());
        expect(during.status).to.equal(503);
        expect(during.text)
          .to.include(fault === 'cut' ? 'Temporarily unavailable' : 'Not confirmed yet')
          .and.not.include('You are unsubscribed');
        if (fault === 'cut') {
          await p.restore();
          expect(
            await t.db.knex('events').where({ contact_id: w.id, type: 'preference.changed' }),
          ).to.deep.equal([]);
        } else await p.restore();
        const after = await request(app).post(press.action).type('form').send(press.body.toString());
        expect(after.status).to.equal(200);
        expect(after.text).to.include('You are unsubscribed');
        await sleep(500); // a hung write that lands late lands now
        const changed = await t.db.knex('events').where({
          contact_id: w.id,
          type: 'preference.changed',
          topic: 'newsletter',
          new_value: 'unsubscribed',
        });
        expect(changed).to.have.length(1);
        const check = await request(app).get(link).expect(200);
        expect(check.text).not.to.include('name="action" value="topic"');
      });
    }

    /** Polls until a statement of this database is in a COPY; false when none began in time. */
    async function untilCopying(tries: number) {
      for (let i = 0; i < tries; i++) {
        const { rows } = await t.db.knex.raw(
          "select 1 from pg_stat_activity where datname = current_database() and state = 'active' and query like 'copy %'",
        );
        if (rows.length > 0) return true;
      }
      return false;
    }

    /** Cuts the connection under a running import, which must fail, then runs it again as the queue would. */
    async function cutThenRetry(run: Promise<unknown>, jobId: string) {
      await p.cut();
      let failed: unknown = null;
      await run.catch((err) => {
        failed = err;
      });
      expect(failed, 'the run fails, for the queue to retry it').to.not.equal(null);
      await p.restore();
      await runImportJob(app.locals.ctx, jobId); // what the queue's retry does
    }

    /** The addresses (tagged `${tag}-…`) with a newsletter opt-out event, one entry an event. */
    function newsletterOptOuts(tag: string): Promise<{ email: string }[]> {
      return t.db
        .knex('events as e')
        .join('contacts as c', 'c.id', 'e.contact_id')
        .where('c.email', 'like', `${tag}-%`)
        .where({ 'e.type': 'preference.changed', 'e.topic': 'newsletter', 'e.new_value': 'unsubscribed' })
        .select('c.email');
    }

    // The worst moments: after the first checkpoint with batches in flight; in the middle of a
    // batch's COPY (on PostgreSQL the new contacts and their events go by COPY: the cut lands
    // with part of a batch's rows sent); and as a checkpoint goes out, which the job no longer
    // waits for: the batch it records has committed, the saved checkpoint is the one before it.
    for (const moment of ['after a checkpoint', 'mid-COPY', 'as a checkpoint is saved'] as const)
      it(`import: a run whose connection is cut ${moment} fails for the queue to retry; the retry applies every opt-out once, and still reports a repeat of a row before the cut`, async () => {
        const tag = uniqueId('imp');
        // batches of 2,000 rows: enough of them that the cut lands with batches in flight
        const emails = Array.from({ length: 20_000 }, (_, i) => `${tag}-${i}@drill.example`);
        // a tenth of the lines suppress their address; a hundredth more were suppressed before
        // the import (an old bounce): each must be a suppressed contact after the retry
        const byLine = (i: number) => i % 10 === 0;
        const earlier = (i: number) => i % 100 === 3;
        const csv = [
          'email,unsubscribed,suppressed',
          ...emails.map((e, i) => `${e},newsletter,${byLine(i) ? 'bounce' : ''}`),
          `${emails[5]},*,`,
        ].join('\n');
        const ctx = app.locals.ctx;
        await t.db.knex('suppressions').insert(
          emails
            .filter((_, i) => earlier(i))
            .map((e) => ({
              email_hash: keyedHash(ctx.config.hashSecret, 'email', e),
              reason: 'bounce',
              actor: 'system',
            })),
        );
        const job = await uploadedImport(t.db.knex, csv, 'drill.csv');
        let run: Promise<unknown>;
        if (moment === 'as a checkpoint is saved') {
          // the second checkpoint's statement never reaches the server: cut as it is sent
          // (only a checkpoint sets processed_rows while an import runs)
          let seen = 0;
          const cutAtSecond = new Promise<void>((resolve) => {
            watchSent = (chunk) => {
              if (!chunk.includes('set "processed_rows"') || ++seen < 2) return;
              watchSent = null;
              void p.cut();
              resolve();
            };
          });
          run = runImportJob(ctx, job.id);
          await Promise.race([
            cutAtSecond,
            run.then(() => Promise.reject(new Error('the import ended before its second checkpoint'))),
          ]);
        } else {
          run = runImportJob(ctx, job.id);
          // after the first checkpoint, with rows in flight
          for (let i = 0; i < 400; i++) {
            const row = await t.db.knex('import_jobs').where({ id: job.id }).first('processed_rows');
            if (Number(row.processed_rows) >= 2000) break;
            await sleep(10);
          }
          if (moment === 'mid-COPY')
            expect(await untilCopying(2000), 'caught a batch in its COPY').to.equal(true);
        }
        await cutThenRetry(run, job.id);
        const done = await t.db.knex('import_jobs').where({ id: job.id }).first();
        expect(done).to.include({
          status: 'done',
          processed_rows: 20_001,
          imported_rows: 20_000,
          failed_rows: 1,
        });
        const errors = typeof done.errors === 'string' ? JSON.parse(done.errors) : done.errors;
        expect(errors.map((e: { message: string }) => e.message)).to.deep.equal([
          'email: the same address as line 7; only the first row for a person is imported',
        ]);
        const optOuts = await newsletterOptOuts(tag);
        expect(optOuts.length, 'one opt-out per person, none lost, none twice').to.equal(20_000);
        expect(new Set(optOuts.map((r) => r.email)).size).to.equal(20_000);
        const suppressed = await t.db
          .knex('contacts')
          .where('email', 'like', `${tag}-%`)
          .where({ suppressed: true })
          .pluck('email');
        expect(new Set(suppressed), 'every suppressed address, by its line or from before').to.deep.equal(
          new Set(emails.filter((_, i) => byLine(i) || earlier(i))),
        );
        // the batches the cut rolled back and their retry left every chain whole (a new contact's
        // chain begins at its import batch, with no lookup of a head)
        const verified = await ctx.ledger.verify(t.db.knex);
        expect(verified.ok, JSON.stringify(verified)).to.equal(true);
      });

    // A file csv-parse refuses part way: the rows before the bad line are written after the
    // refusal, by the batch the job was reading. The worst moment for that write is its COPY
    // going out: the connection is cut as it is sent, the run must fail for the queue (not end
    // 'failed' with the rows unwritten), and the retry must write every opt-out before the bad
    // line once and fail on the same line.
    it('import: a file refused at a stray quote, cut as the rows before it go out; the retry writes each of their opt-outs once', async () => {
      const tag = uniqueId('stray');
      const emails = Array.from({ length: 1_500 }, (_, i) => `${tag}-${i}@drill.example`);
      const csv = [
        'email,unsubscribed',
        ...emails.map((e) => `${e},newsletter`),
        `${tag}-bad@drill.example,"news"letter`,
        `${tag}-after@drill.example,newsletter`,
      ].join('\n');
      const ctx = app.locals.ctx;
      const job = await uploadedImport(t.db.knex, csv, 'stray.csv');
      // the file is one batch: its only COPY goes out after the refusal
      const cutAtCopy = new Promise<void>((resolve) => {
        watchSent = (chunk) => {
          if (!chunk.includes('copy ')) return;
          watchSent = null;
          void p.cut();
          resolve();
        };
      });
      const run = runImportJob(ctx, job.id);
      await Promise.race([
        cutAtCopy,
        run.then(() => Promise.reject(new Error('the import ended before its COPY went out'))),
      ]);
      await cutThenRetry(run, job.id);
      const done = await t.db.knex('import_jobs').where({ id: job.id }).first();
      expect(done).to.include({ status: 'failed', processed_rows: 1_500, imported_rows: 1_500 });
      const errors = typeof done.errors === 'string' ? JSON.parse(done.errors) : done.errors;
      expect(errors.at(-1).message).to.match(/^The import stopped at line 1502: /);
      const optOuts = await newsletterOptOuts(tag);
      expect(optOuts.length, 'one opt-out per row before the bad line, none lost, none twice').to.equal(
        1_500,
      );
      expect(new Set(optOuts.map((r) => r.email))).to.deep.equal(new Set(emails));
      const verified = await ctx.ledger.verify(t.db.knex);
      expect(verified.ok, JSON.stringify(verified)).to.equal(true);
    });

    // Prior opt-outs for contacts that exist already: each row writes a preference row, and the
    // preferences' statement trigger rewrites the contact's opt-out list (what a check reads) in
    // the batch's transaction. The worst moment is after that rewrite and before the commit: the
    // cut lands while a batch is in a COPY (its preference rows, or its events after the rewrite).
    it('import: opt-outs of known contacts cut mid-COPY; the retry applies each once and every check of them says no', async () => {
      const tag = uniqueId('known');
      const emails = Array.from({ length: 8_000 }, (_, i) => `${tag}-${i}@drill.example`);
      const ctx = app.locals.ctx;
      // the contacts first, as a migration's first file (on the connection nothing cuts)
      const first = await uploadedImport(t.db.knex, ['email', ...emails].join('\n'), 'contacts.csv');
      await runImportJob(t.ctx, first.id);
      const job = await uploadedImport(
        t.db.knex,
        ['email,unsubscribed', ...emails.map((e) => `${e},newsletter`)].join('\n'),
        'optouts.csv',
      );
      const run = runImportJob(ctx, job.id);
      expect(await untilCopying(4000), 'caught a batch in its COPY').to.equal(true);
      await cutThenRetry(run, job.id);
      const done = await t.db.knex('import_jobs').where({ id: job.id }).first();
      expect(done).to.include({
        status: 'done',
        processed_rows: 8_000,
        imported_rows: 8_000,
        failed_rows: 0,
      });
      const events = await newsletterOptOuts(tag);
      expect(events.length, 'one opt-out per person, none lost, none twice').to.equal(8_000);
      expect(new Set(events.map((r) => r.email)).size).to.equal(8_000);
      const lists = await t.db.knex('contacts').where('email', 'like', `${tag}-%`).pluck('optouts');
      expect(lists).to.have.length(8_000);
      expect(lists.every((l: string[]) => l.length === 1 && l[0] === 'email:newsletter')).to.equal(true);
      const auth = (await apiKeyFor(t, ['check'])).auth;
      const checked = await request(t.app)
        .post('/api/v1/send-permission/batch')
        .set('Authorization', auth)
        .send({ channel: 'email', topic: 'newsletter', recipients: emails })
        .expect(200);
      expect(new Set(checked.body.results.map((r: { reason: string }) => r.reason))).to.deep.equal(
        new Set(['unsubscribed_topic']),
      );
      const verified = await ctx.ledger.verify(t.db.knex);
      expect(verified.ok, JSON.stringify(verified)).to.equal(true);
    });

    // The address locks' worst moment: a bounce of an address in the file is being written (its
    // transaction holds the address's lock) when the import's batch reaches that address and
    // waits on it, and the import's connection is cut while it waits. The bounce commits, the
    // queue retries the import, and the contact the retry creates takes the suppression.
    it('import: a batch cut while it waits on a bounce of one of its addresses; the retry creates that contact suppressed', async () => {
      const tag = uniqueId('wait');
      const emails = Array.from({ length: 6000 }, (_, i) => `${tag}-${i}@drill.example`);
      const byLine = (i: number) => i % 10 === 0;
      const csv = ['email,suppressed', ...emails.map((e, i) => `${e},${byLine(i) ? 'bounce' : ''}`)].join(
        '\n',
      );
      const ctx = app.locals.ctx;
      // in the second batch of 2,000 rows, so the first has committed when the cut lands
      const bounced = emails[3001];
      const bounce = await t.db.knex.transaction();
      try {
        await suppressIn(t.ctx, bounce, system, { email: bounced, contactId: null, reason: 'bounce' });
        const job = await uploadedImport(t.db.knex, csv, 'drill.csv');
        const run = runImportJob(ctx, job.id);
        let failed: unknown = null;
        const ended = run.catch((err) => {
          failed = err;
        });
        await waitFor(async () => {
          const { rows } = await t.db.knex.raw(
            `select 1 from pg_locks where locktype = 'advisory' and classid = ? and objsubid = 2 and not granted`,
            [ADDRESS_LOCK],
          );
          return rows.length > 0;
        });
        await p.cut();
        await ended;
        expect(failed, 'the run fails, for the queue to retry it').to.not.equal(null);
        await bounce.commit();
        await p.restore();
        await runImportJob(ctx, job.id); // what the queue's retry does
        const done = await t.db.knex('import_jobs').where({ id: job.id }).first();
        expect(done).to.include({ status: 'done', imported_rows: 6000, failed_rows: 0 });
      } finally {
        if (!bounce.isCompleted()) await bounce.rollback();
      }
      const suppressed = await t.db
        .knex('contacts')
        .where('email', 'like', `${tag}-%`)
        .where({ suppressed: true })
        .pluck('email');
      expect(new Set(suppressed), 'every suppressed address: by its line, and the bounce').to.deep.equal(
        new Set([...emails.filter((_, i) => byLine(i)), bounced]),
      );
      const check = await request(app)
        .post('/api/v1/send-permission')
        .set('Authorization', (await apiKeyFor(t, ['check'])).auth)
        .send({ channel: 'email', recipient: bounced, topic: 'newsletter' })
        .expect(200);
      expect(check.body).to.include({ allowed: false, reason: 'suppressed' });
      const verified = await ctx.ledger.verify(t.db.knex);
      expect(verified.ok, JSON.stringify(verified)).to.equal(true);
    });

    it('SMS: a text whose transaction failed is applied on the retry with the same MessageSid', async () => {
      const c = await consenting();
      const m = inbound(c.phone, 'UNSTOP');
      // a START first needs a keyword revocation to restore
      expect((await text(inbound(c.phone, 'STOP'))).status).to.equal(200);
      await p.cut();
      expect((await text(m)).status).to.equal(503);
      await p.restore();
      let res = await text(m);
      for (let i = 0; i < 20 && res.status !== 200; i++) {
        await sleep(250);
        res = await text(m);
      }
      expect(res.text).to.include('resubscribed');
      const replay = await text(m);
      expect(replay.text).not.to.include('<Message>');
      const granted = await t.db
        .knex('events')
        .where({ contact_id: c.id, type: 'consent.granted', channel: 'sms' });
      expect(granted).to.have.length(2); // the original grant and one restore
    });
  });
}
