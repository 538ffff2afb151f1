// A contact created for an address that is suppressed already (an earlier bounce, a complaint, an
// erased person) is suppressed from its first moment: contacts.suppressed is what a check of a
// known address reads. The database sees to it for every writer, once a statement for inserts
// (contacts_take_suppression_inserted) and once a row for an address changed in place.
import { expect } from 'chai';
import type { Knex } from 'knex';
import request from 'supertest';
import { ADDRESS_LOCK, ADDRESS_LOCKS_MAX } from '../../db/migrations/20261127000700_address_locks.ts';
import { deleteSuppression, setContactEmail } from '../../server/contacts/queries.ts';
import { suppressIn, upsertContact, upsertContactIn } from '../../server/contacts/service.ts';
import type { Core } from '../../server/core.ts';
import { type BulkRow, importBatch } from '../../server/imports/batch.ts';
import { insertContacts } from '../../server/imports/queries.ts';
import { runImportJob } from '../../server/imports/service.ts';
import { keyedHash } from '../../server/keyed-hash.ts';
import { createLedger } from '../../server/ledger/ledger.ts';
import { apiKeyFor, type TestApp, testApp, testConfig, uniqueEmail } from '../support/app.ts';
import { sharedDb } from '../support/db.ts';
import { uploadedImport } from '../support/imports.ts';

const { hashSecret } = testConfig();
const hash = (email: string) => keyedHash(hashSecret, 'email', email);

// N contacts written in one statement, as an operator's load by hand would be: addresses
// "<prefix>-<i>@bulk.example.net".
function bulkContacts(q: Knex | Knex.Transaction, prefix: string, n: number) {
  const emails = Array.from({ length: n }, (_, i) => `${prefix}-${i + 1}@bulk.example.net`);
  return q.raw(
    `insert into contacts (email, email_key, email_hash)
     select a, a, h from unnest(?::text[], ?::text[]) as x(a, h)`,
    [emails, emails.map(hash)],
  );
}

/** contacts.suppressed of each address, in order (undefined where no contact holds it). */
async function suppressedOf(knex: Knex, emails: string[]) {
  const rows = await knex('contacts').whereIn('email_key', emails).select('email_key', 'suppressed');
  return emails.map((e) => rows.find((r) => r.email_key === e)?.suppressed);
}

describe('a new contact takes its address suppression', () => {
  let core: Core;
  before(async () => {
    const db = await sharedDb();
    const config = testConfig();
    core = { config, db, ledger: createLedger(config.hashSecret) } as Core;
  });
  const suppress = (email: string) =>
    core.db.knex('suppressions').insert({ email_hash: hash(email), reason: 'bounce', actor: 'system' });

  it('through the service, and the contact it returns says so', async () => {
    const gone = uniqueEmail('bounced');
    await suppress(gone);
    const sys = { actor: 'system' as const };
    const { contact, created } = await upsertContact(core, sys, gone, { name: 'Bounced Before' });
    expect(created).to.equal(true);
    expect(contact.suppressed).to.equal(true);
    expect(await suppressedOf(core.db.knex, [gone])).to.deep.equal([true]);
    const { contact: fine } = await upsertContact(core, sys, uniqueEmail('fine'), {});
    expect(fine.suppressed).to.equal(false);
  });

  it('in one statement of many rows, by SQL by hand, whatever the writer claimed', async () => {
    const [held, free, claimed] = [uniqueEmail('held'), uniqueEmail('free'), uniqueEmail('claimed')];
    await suppress(held);
    await core.db.knex('contacts').insert([
      { email: held, email_key: held, email_hash: hash(held) },
      { email: free, email_key: free, email_hash: hash(free) },
      // suppressed without a suppression: the database knows better
      { email: claimed, email_key: claimed, email_hash: hash(claimed), suppressed: true },
    ]);
    expect(await suppressedOf(core.db.knex, [held, free, claimed])).to.deep.equal([true, false, false]);
  });

  it("through the import's bulk insert (COPY on PostgreSQL), whatever the batch claimed", async () => {
    const [held, free, claimed] = [uniqueEmail('held'), uniqueEmail('free'), uniqueEmail('claimed')];
    await suppress(held);
    const row = (email: string, suppressed: boolean) => ({
      email,
      email_key: email,
      email_hash: hash(email),
      name: null,
      phone: null,
      locale: null,
      time_zone: null,
      region: null,
      account_id: null,
      optouts: [],
      suppressed,
    });
    await core.db.knex.transaction((trx) =>
      insertContacts(trx, [row(held, false), row(free, false), row(claimed, true)]),
    );
    expect(await suppressedOf(core.db.knex, [held, free, claimed])).to.deep.equal([true, false, false]);
  });

  it("in one statement of more contacts than the lock table holds addresses (an operator's load)", async function () {
    this.timeout(60_000);
    const prefix = uniqueEmail('load').split('@')[0];
    await suppress(`${prefix}-3@bulk.example.net`);
    await bulkContacts(core.db.knex, prefix, 16_000);
    const rows = await core.db.knex('contacts').whereLike('email_key', `${prefix}-%`).select('suppressed');
    expect(rows).to.have.length(16_000);
    expect(rows.filter((r) => r.suppressed)).to.have.length(1);
  });

  it('when a live contact moves to a suppressed address, and back', async () => {
    const [from, onto] = [uniqueEmail('from'), uniqueEmail('onto')];
    await suppress(onto);
    const [c] = await core.db
      .knex('contacts')
      .insert({ email: from, email_key: from, email_hash: hash(from) })
      .returning(['id']);
    const moved = async (email: string) =>
      (
        await core.db
          .knex('contacts')
          .where({ id: c.id })
          .update({ email, email_key: email, email_hash: hash(email) })
          .returning(['suppressed'])
      )[0].suppressed;
    expect(await moved(onto)).to.equal(true);
    expect(await moved(from)).to.equal(false);
  });
});

// Two transactions at the same moment, one giving a contact an address and one suppressing (or
// lifting) it, each must end up seeing the other: the one that comes second waits on the
// address's lock (ADDRESS_LOCK) until the first ends. Needs two real connections: PostgreSQL
// (CI sets DATABASE_URL); PGlite has one connection, so nothing there runs at the same moment.
if (process.env.DATABASE_URL) {
  describe('a contact and a suppression of its address, written at the same moment', () => {
    let t: TestApp;
    let auth: string;
    before(async () => {
      t = await testApp();
      auth = (await apiKeyFor(t, ['check'])).auth;
    });
    const sys = { actor: 'system' as const };
    const verdict = async (email: string) =>
      (
        await request(t.app)
          .post('/api/v1/send-permission')
          .set('Authorization', auth)
          .send({ channel: 'email', recipient: email, topic: 'newsletter' })
          .expect(200)
      ).body;
    const suppressedOne = async (email: string) => (await suppressedOf(t.db.knex, [email]))[0];

    /**
     * Runs `second` in its own transaction while `first` holds its own open, and tells whether
     * `second` had to wait on a lock before `first` committed. Both commit.
     */
    async function interleave(
      first: (trx: Knex.Transaction) => Promise<unknown>,
      second: (trx: Knex.Transaction) => Promise<unknown>,
    ) {
      const a = await t.db.knex.transaction();
      const b = await t.db.knex.transaction();
      try {
        await first(a);
        let finished = false;
        const running = second(b).then(() => {
          finished = true;
        });
        // Until the second either finishes or stands waiting on an address's lock (or, past
        // ADDRESS_LOCKS_MAX, on the other side's table).
        let waited = false;
        for (let i = 0; i < 200 && !finished && !waited; i++) {
          const { rows } = await t.db.knex.raw(
            `select 1 from pg_locks
              where not granted
                and (locktype = 'advisory' and classid = ? and objsubid = 2
                     or locktype = 'relation' and relation in ('contacts'::regclass, 'suppressions'::regclass))`,
            [ADDRESS_LOCK],
          );
          waited = rows.length > 0;
          if (!waited) await new Promise((r) => setTimeout(r, 25));
        }
        await a.commit();
        await running;
        await b.commit();
        return { waited };
      } finally {
        if (!a.isCompleted()) await a.rollback();
        if (!b.isCompleted()) await b.rollback();
      }
    }

    it('a suppression waits for a contact being created at its address, and marks it', async () => {
      const email = uniqueEmail('racing');
      const { waited } = await interleave(
        (trx) => upsertContactIn(t.ctx, trx, sys, email, { name: 'Created Meanwhile' }),
        (trx) => suppressIn(t.ctx, trx, sys, { email, contactId: null, reason: 'bounce' }),
      );
      expect(waited).to.equal(true);
      expect(await suppressedOne(email)).to.equal(true);
      expect(await verdict(email)).to.include({ allowed: false, reason: 'suppressed' });
    });

    it('a contact created while its address is being suppressed waits, and is suppressed', async () => {
      const email = uniqueEmail('racing');
      const { waited } = await interleave(
        (trx) => suppressIn(t.ctx, trx, sys, { email, contactId: null, reason: 'spam_complaint' }),
        (trx) => upsertContactIn(t.ctx, trx, sys, email, {}),
      );
      expect(waited).to.equal(true);
      expect(await suppressedOne(email)).to.equal(true);
      expect(await verdict(email)).to.include({ allowed: false, reason: 'suppressed' });
    });

    it('a contact moved onto an address being suppressed is suppressed', async () => {
      const [from, onto] = [uniqueEmail('from'), uniqueEmail('onto')];
      const { contact } = await upsertContact(t.ctx, sys, from, {});
      const { waited } = await interleave(
        (trx) => suppressIn(t.ctx, trx, sys, { email: onto, contactId: null, reason: 'bounce' }),
        (trx) => setContactEmail(trx, contact.id, { email: onto, email_key: onto, email_hash: hash(onto) }),
      );
      expect(waited).to.equal(true);
      expect(await suppressedOne(onto)).to.equal(true);
      expect(await verdict(onto)).to.include({ allowed: false, reason: 'suppressed' });
    });

    it("an import's batch creating the contact waits for a bounce of its address, and suppresses it", async () => {
      const [bounced, other] = [uniqueEmail('imported'), uniqueEmail('imported')];
      const rows: BulkRow[] = [bounced, other].map((email, i) => ({
        line: i + 2,
        email,
        patch: { name: `Imported ${i}` },
        unsubscribed: [],
        suppressed: null,
      }));
      const { waited } = await interleave(
        (trx) => suppressIn(t.ctx, trx, sys, { email: bounced, contactId: null, reason: 'bounce' }),
        () => importBatch(t.ctx, sys, rows, { accounts: new Map(), onlyAccountId: null }),
      );
      expect(waited).to.equal(true);
      expect([await suppressedOne(bounced), await suppressedOne(other)]).to.deep.equal([true, false]);
      expect(await verdict(bounced)).to.include({ allowed: false, reason: 'suppressed' });
      expect(await verdict(other)).to.include({ allowed: true });
    });

    it('a contact created while its suppression is being lifted is not left suppressed', async () => {
      const email = uniqueEmail('lifted');
      await t.db.knex.transaction((trx) =>
        suppressIn(t.ctx, trx, sys, { email, contactId: null, reason: 'manual' }),
      );
      const { waited } = await interleave(
        (trx) => deleteSuppression(trx, hash(email)),
        (trx) => upsertContactIn(t.ctx, trx, sys, email, {}),
      );
      expect(waited).to.equal(true);
      expect(await suppressedOne(email)).to.equal(false);
      expect(await verdict(email)).to.include({ allowed: true });
    });

    it("matches a statement's rows by index, never by reading the whole of contacts or suppressions", async () => {
      // An import batch's two statements on a connection whose plans were made first (the
      // triggers' plans last as long as the connection); this transaction's own scan counts.
      const prefix = uniqueEmail('probed').split('@')[0];
      const emails = Array.from({ length: 2000 }, (_, i) => `${prefix}-${i + 1}@bulk.example.net`);
      // pg_stat_xact_user_tables also holds a connection's counts not yet reported from its
      // earlier transactions (reported only between transactions): the difference is this one's.
      const seqScans = async (trx: Knex.Transaction) =>
        (
          await trx.raw(
            `select relname, seq_scan::int from pg_stat_xact_user_tables
              where relname in ('contacts', 'suppressions') order by relname`,
          )
        ).rows as { relname: string; seq_scan: number }[];
      const scans = await t.db.knex.transaction(async (trx) => {
        const before = await seqScans(trx);
        for (let round = 0; round < 2; round++) {
          const some = emails.filter((_, i) => i % 50 === round);
          await trx.raw(
            `insert into suppressions (email_hash, reason, actor) select h, 'bounce', 'test' from unnest(?::text[]) h`,
            [some.map(hash)],
          );
          await bulkContacts(trx, `${prefix}r${round}`, 1000);
        }
        await bulkContacts(trx, prefix, 2000);
        await trx.raw('delete from suppressions where email_hash = ?', [hash(emails[0])]);
        const after = await seqScans(trx);
        return after.map((a, i) => ({ relname: a.relname, seq_scan: a.seq_scan - before[i].seq_scan }));
      });
      expect(scans).to.deep.equal([
        { relname: 'contacts', seq_scan: 0 },
        { relname: 'suppressions', seq_scan: 0 },
      ]);
      expect(await suppressedOne(emails[50])).to.equal(true);
      expect([await suppressedOne(emails[0]), await suppressedOne(emails[2])]).to.deep.equal([false, false]);
    });

    it('a storm of bounces and sign-ups during an import: no deadlock, every bounced contact suppressed @slow', async function () {
      this.timeout(180_000);
      const prefix = uniqueEmail('storm').split('@')[0];
      const email = (i: number) => `${prefix}-${i}@storm.example.net`;
      const lines = 6000;
      // a tenth of the file suppresses itself; bounces arrive for every 20th line (some before
      // the import reaches them, some after) and for 200 sign-ups that are not in the file,
      // each sign-up racing its own bounce
      const csv = ['email,name,unsubscribed,suppressed'];
      for (let i = 0; i < lines; i++)
        csv.push(`${email(i)},Storm ${i},${i % 7 === 0 ? 'newsletter' : ''},${i % 10 === 0 ? 'manual' : ''}`);
      const bounced = Array.from({ length: lines / 20 }, (_, k) => email(k * 20 + 3));
      const signups = Array.from({ length: 200 }, (_, k) => email(lines + k));
      const job = await uploadedImport(t.db.knex, `${csv.join('\n')}\n`, 'storm.csv');
      const bounce = (e: string) =>
        t.db.knex.transaction((trx) =>
          suppressIn(t.ctx, trx, sys, { email: e, contactId: null, reason: 'bounce' }),
        );
      const storm = async () => {
        // eight writers at a time, interleaving the file's bounces with sign-ups and theirs
        const work = [
          ...bounced.map((e) => () => bounce(e)),
          ...signups.flatMap((e) => [() => upsertContact(t.ctx, sys, e, {}), () => bounce(e)]),
        ];
        for (let at = 0; at < work.length; at += 8) await Promise.all(work.slice(at, at + 8).map((w) => w()));
      };
      await Promise.all([runImportJob(t.ctx, job.id), storm()]);

      const done = await t.db.knex('import_jobs').where({ id: job.id }).first();
      expect([done.status, done.imported_rows, done.failed_rows]).to.deep.equal(['done', lines, 0]);
      const rows: { email_key: string; suppressed: boolean }[] = await t.db
        .knex('contacts')
        .whereLike('email_key', `${prefix}-%`)
        .whereNull('erased_at')
        .select('email_key', 'suppressed');
      expect(rows).to.have.length(lines + signups.length);
      const should = new Set([
        ...bounced,
        ...signups,
        ...Array.from({ length: lines / 10 }, (_, k) => email(k * 10)),
      ]);
      const wrong = rows.filter((r) => r.suppressed !== should.has(r.email_key)).map((r) => r.email_key);
      expect(wrong).to.deep.equal([]);
    });

    // Past ADDRESS_LOCKS_MAX addresses a transaction locks the other side's table instead.
    const many = ADDRESS_LOCKS_MAX + 500;

    it('a bulk insert of more contacts than a transaction locks one by one waits all the same', async () => {
      const prefix = uniqueEmail('bulk').split('@')[0];
      const email = (i: number) => `${prefix}-${i}@bulk.example.net`;
      const { waited } = await interleave(
        (trx) => suppressIn(t.ctx, trx, sys, { email: email(7), contactId: null, reason: 'bounce' }),
        (trx) => bulkContacts(trx, prefix, many),
      );
      expect(waited).to.equal(true);
      expect([await suppressedOne(email(7)), await suppressedOne(email(8))]).to.deep.equal([true, false]);
      expect(await verdict(email(7))).to.include({ allowed: false, reason: 'suppressed' });
    });

    it('a suppression list loaded by hand in one statement waits for a contact being created', async () => {
      const email = uniqueEmail('listed');
      const hashes = [hash(email), ...Array.from({ length: many }, (_, i) => hash(`${email}.${i}`))];
      const { waited } = await interleave(
        (trx) => upsertContactIn(t.ctx, trx, sys, email, {}),
        (trx) =>
          trx.raw(
            `insert into suppressions (email_hash, reason, actor) select h, 'manual', 'test' from unnest(?::text[]) h`,
            [hashes],
          ),
      );
      expect(waited).to.equal(true);
      expect(await suppressedOne(email)).to.equal(true);
      expect(await verdict(email)).to.include({ allowed: false, reason: 'suppressed' });
    });
  });
}
