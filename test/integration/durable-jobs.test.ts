// Durable background work (SPEC "Operations"): a process killed with SIGKILL mid-import, then
// restarted, finishes the import with exact counts and no row written twice; a database cut
// while jobs run does not kill the process, and the jobs complete after. Real processes on a
// real PostgreSQL (a kill -9 of an embedded database's only process is not a drill worth
// passing): runs when DATABASE_URL is set, as CI's slow tier does.
import { expect } from 'chai';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { migrateLatest } from '../../db/migrate.ts';
import { createApp } from '../../server/app.ts';
import { upsertContact } from '../../server/contacts/service.ts';
import type { Core } from '../../server/core.ts';
import { createImportJob } from '../../server/imports/service.ts';
import { createJobs, QUEUES } from '../../server/jobs/jobs.ts';
import { createLedger } from '../../server/ledger/ledger.ts';
import { setPreferences } from '../../server/preferences/service.ts';
import { createEndpoint } from '../../server/webhooks/service.ts';
import { testConfig } from '../support/app.ts';
import { type FreshDb, freshDb } from '../support/db.ts';
import { startFakeSendGrid } from '../support/fake-sendgrid.ts';
import { baseEnv, runCli, startServer } from '../support/process.ts';
import { proxiedDb } from '../support/proxy.ts';
import { startReceiver } from '../support/webhook-receiver.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (process.env.DATABASE_URL) {
  describe('durable background work @slow', function () {
    this.timeout(240_000);
    let fresh: FreshDb;
    before(async () => {
      fresh = await freshDb();
      await migrateLatest(fresh.db.knex);
    });
    after(() => fresh?.drop());

    it('an import whose process is killed (SIGKILL) resumes in the next one: exact counts, no row twice, no upload left', async () => {
      const k = fresh.db.knex;
      const ROWS = 12_000;
      const tag = Date.now().toString(36);
      const lines = ['email,name,unsubscribed,suppressed'];
      for (let i = 0; i < ROWS; i++) {
        lines.push(
          `k${i}.${tag}@kill.example.net,Person ${i},${i % 5 === 0 ? 'newsletter' : ''},${i % 40 === 0 ? 'bounce' : ''}`,
        );
      }
      lines.push('not-an-address,Bad,,'); // one bad row, reported once
      const csv = Buffer.from(`${lines.join('\n')}\n`);
      const job = await createImportJob(k, {
        createdBy: null,
        accountId: null,
        defaultAccount: null,
        filename: 'kill.csv',
      });
      for (let at = 0; at < csv.length; at += 64 * 1024) await job.append(csv.subarray(at, at + 64 * 1024));
      const config = testConfig({ DATABASE_URL: fresh.url as string });
      const queuer = createJobs(
        { config, db: fresh.db, ledger: createLedger(config.hashSecret) } as Core,
        pino({ level: 'silent' }),
      );
      await queuer.send(QUEUES.importRun, { importId: job.id });
      await queuer.stop();

      const env = baseEnv({ DATABASE_URL: fresh.url });
      const first = await startServer(env);
      // the worst moment: past a checkpoint, mid-way through the rows
      for (let i = 0; i < 600; i++) {
        const row = await k('import_jobs').where({ id: job.id }).first();
        if (row.resume_record >= 2000) break;
        await sleep(50);
      }
      first.child.kill('SIGKILL');
      await first.exited;
      const mid = await k('import_jobs').where({ id: job.id }).first();
      expect(mid.status).to.equal('running');
      expect(mid.processed_rows).to.be.below(ROWS + 1);

      const second = await startServer(env);
      try {
        let done = mid;
        for (let i = 0; i < 1800 && done.status === 'running'; i++) {
          await sleep(100);
          done = await k('import_jobs').where({ id: job.id }).first();
        }
        expect(done.status, JSON.stringify(done)).to.equal('done');
        expect(done).to.include({ processed_rows: ROWS + 1, imported_rows: ROWS, failed_rows: 1 });
        const errors = typeof done.errors === 'string' ? JSON.parse(done.errors) : done.errors;
        expect(errors.map((e: { line: number }) => e.line)).to.deep.equal([ROWS + 2]);
        const contacts = await k('contacts')
          .where('email', 'like', `%.${tag}@kill.example.net`)
          .count({ n: '*' });
        expect(Number(contacts[0].n)).to.equal(ROWS);
        // every change written exactly once on the ledger
        const { rows: events } = await k.raw(
          'select type, count(*)::int as n from events where actor = ? group by type order by type',
          [`import:${job.id}`],
        );
        expect(
          Object.fromEntries(events.map((e: { type: string; n: number }) => [e.type, e.n])),
        ).to.deep.equal({
          'contact.created': ROWS,
          'preference.changed': ROWS / 5,
          'suppression.added': ROWS / 40,
        });
        expect(await k('import_uploads').where({ import_id: job.id })).to.deep.equal([]);
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    });

    it('a batch send whose process is killed: the key is usable again within the lease, nothing is sent twice', async () => {
      const fake = await startFakeSendGrid();
      fake.delayMs = 40;
      const env = baseEnv({
        DATABASE_URL: fresh.url,
        SENDGRID_API_KEY: 'SG.kill-test',
        SENDGRID_API_URL: fake.url,
        IDEMPOTENCY_LEASE_SECONDS: '3',
      });
      const created = runCli(['apikey:create', '--name', 'kill', '--scopes', 'send'], env);
      const apiKey = created.stdout.trim().split('\n').pop() as string;
      const messages = Array.from({ length: 200 }, (_, i) => ({
        to: `batch${i}.${Date.now().toString(36)}@kill.example.net`,
        topic: 'account',
        subject: 'Your receipt',
        text: 'Thank you.',
      }));
      const post = (port: number) =>
        fetch(`http://127.0.0.1:${port}/api/v1/messages/batch`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${apiKey}`,
            'content-type': 'application/json',
            'idempotency-key': 'kill-batch-1',
          },
          body: JSON.stringify({ messages }),
        });
      try {
        const first = await startServer(env);
        const inFlight = post(first.port).catch(() => null);
        for (let i = 0; i < 400 && fake.received.length < 60; i++) await sleep(10);
        first.child.kill('SIGKILL');
        await first.exited;
        await inFlight;
        const beforeRetry = fake.received.length;
        expect(beforeRetry).to.be.within(1, 199);

        const second = await startServer(env);
        try {
          let res = await post(second.port);
          for (let i = 0; i < 40 && res.status === 409; i++) {
            await sleep(250); // the dead request's lease lapses within 3 s
            res = await post(second.port);
          }
          expect(res.status).to.equal(200);
          const { results } = (await res.json()) as { results: { to: string; status: string }[] };
          const byAddress = new Map<string, number>();
          for (const m of fake.received) {
            const to = (m.body.personalizations as { to: { email: string }[] }[])[0].to[0].email;
            byAddress.set(to, (byAddress.get(to) ?? 0) + 1);
          }
          expect(
            [...byAddress.values()].every((n) => n === 1),
            'no address received twice',
          ).to.equal(true);
          const statuses = results.map((r) => r.status);
          expect(statuses.every((s) => s === 'sent' || s === 'pending')).to.equal(true);
          // only what was in flight at the kill is pending (8 at a time); the rest went out once
          expect(statuses.filter((s) => s === 'pending').length).to.be.at.most(8);
          for (const r of results) if (r.status === 'sent') expect(byAddress.get(r.to), r.to).to.equal(1);
        } finally {
          second.child.kill('SIGTERM');
          await second.exited;
        }
      } finally {
        await fake.close();
      }
    });

    it('a webhook receiver that fails, with the service killed (SIGKILL) between attempts, gets every event once it recovers', async () => {
      const receiver = await startReceiver();
      receiver.statuses.push(500); // the first attempt fails
      const { got } = receiver;
      const config = testConfig({ DATABASE_URL: fresh.url as string });
      const core = { config, db: fresh.db, ledger: createLedger(config.hashSecret) } as Core;
      const ep = await createEndpoint(
        core,
        { actor: 'system' },
        { url: receiver.url, events: ['preference.changed'] },
        { production: false, allowPrivate: false },
      );
      const env = baseEnv({ DATABASE_URL: fresh.url });
      const first = await startServer(env);
      try {
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) {
          const { contact } = await upsertContact(
            core,
            { actor: 'system' },
            `hook${i}.${Date.now()}@kill.example.net`,
            {},
          );
          ids.push(contact.id);
          await setPreferences(core, { actor: 'system' }, contact.id, [
            { channel: 'email', topic: null, status: 'unsubscribed' },
          ]);
        }
        for (let i = 0; i < 200 && got.length === 0; i++) await sleep(25);
        expect(got[0]?.status).to.equal(500); // the first attempt failed
        first.child.kill('SIGKILL');
        await first.exited;
        const second = await startServer(env);
        try {
          // the dead process's hold on the endpoint lapses within its 30 s lease
          for (let i = 0; i < 1200 && got.filter((g) => g.status === 204).length < 10; i++) await sleep(50);
          const wh = new Webhook(ep.secret);
          const ok = got
            .filter((g) => g.status === 204)
            .map(
              (g) =>
                wh.verify(g.body, g.headers as Record<string, string>) as { contactId: string; id: number },
            );
          expect(ok.map((e) => e.contactId)).to.deep.equal(ids); // every one, once, in order
          expect(JSON.parse(got[0].body).id).to.equal(ok[0].id); // the failed one came again first
        } finally {
          second.child.kill('SIGTERM');
          await second.exited;
        }
      } finally {
        await receiver.close();
      }
    });

    it('survives a database cut while jobs run, and the jobs complete after it', async () => {
      const p = await proxiedDb(fresh.url as string, { statementTimeoutMs: 3000 });
      const app = createApp({ config: testConfig({ DATABASE_URL: fresh.url as string }), db: p.db });
      const { jobs } = app.locals.ctx;
      const ran: string[] = [];
      jobs.handle(QUEUES.preferencesLink, async (d) => {
        ran.push(String(d.n));
      });
      try {
        await jobs.start({ work: true });
        await jobs.send(QUEUES.preferencesLink, { n: 'before' });
        for (let i = 0; i < 100 && !ran.includes('before'); i++) await sleep(50);
        await p.cut();
        await sleep(3000); // pg-boss polls, fails, emits 'error': the process must live on
        await p.restore();
        let sent = false;
        for (let i = 0; i < 60 && !sent; i++) {
          sent = await jobs.send(QUEUES.preferencesLink, { n: 'after' }).then(
            () => true,
            () => false,
          );
          if (!sent) await sleep(250);
        }
        for (let i = 0; i < 200 && !ran.includes('after'); i++) await sleep(50);
        expect(ran).to.include.members(['before', 'after']);
      } finally {
        await jobs.stop();
        await p.close();
      }
    });
  });
}
