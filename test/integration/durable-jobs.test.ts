// Durable background work (SPEC "Operations"): a process killed with SIGKILL mid-import, then
// restarted, finishes the import with exact counts and no row written twice; a database cut
// while jobs run does not kill the process, and the jobs complete after. Real processes on a
// real PostgreSQL (a kill -9 of an embedded database's only process is not a drill worth
// passing): runs when DATABASE_URL is set, as CI's slow tier does.
import { expect } from 'chai';
import { pino } from 'pino';
import { migrateLatest } from '../../db/migrate.ts';
import { createImportJob } from '../../server/admin/import.ts';
import { createApp } from '../../server/app.ts';
import type { Core } from '../../server/core.ts';
import { createJobs, QUEUES } from '../../server/jobs/jobs.ts';
import { createLedger } from '../../server/ledger/ledger.ts';
import { testConfig } from '../support/app.ts';
import { type FreshDb, freshDb } from '../support/db.ts';
import { baseEnv, startServer } from '../support/process.ts';
import { proxiedDb } from '../support/proxy.ts';

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
