import { expect } from 'chai';
import { migrateLatest } from '../../db/migrate.ts';
import { upsertContact } from '../../server/contacts/service.ts';
import { createLedger } from '../../server/ledger/ledger.ts';
import { setPreferences } from '../../server/preferences/service.ts';
import { testConfig, uniqueEmail } from '../support/app.ts';
import { type FreshDb, freshDb, sharedDb } from '../support/db.ts';

async function refused(q: PromiseLike<unknown>) {
  try {
    await q;
  } catch (err) {
    return (err as Error).message;
  }
  return null;
}

describe('ledger', () => {
  const config = testConfig();
  const ledger = createLedger(config.hashSecret);

  describe('on the shared database', () => {
    it('refuses UPDATE, DELETE and TRUNCATE on events', async () => {
      const db = await sharedDb();
      const core = { config, db, ledger };
      await upsertContact(core, { actor: 'system' }, uniqueEmail(), { name: 'Ledger Person' });
      expect(await refused(db.knex('events').update({ actor: 'system' }))).to.match(/append-only/);
      expect(await refused(db.knex('events').del())).to.match(/append-only/);
      expect(await refused(db.knex.raw('truncate events cascade'))).to.match(/append-only/);
    });

    it('keeps no name or email address on the ledger', async () => {
      const db = await sharedDb();
      const email = uniqueEmail('secretive');
      const { contact } = await upsertContact({ config, db, ledger }, { actor: 'system' }, email, {
        name: 'Zebulon Quux',
      });
      const rows = await db.knex('events').where({ contact_id: contact.id });
      const text = JSON.stringify(rows);
      expect(text).not.to.include('Zebulon');
      expect(text).not.to.include(email);
    });

    it('serialises concurrent appends for one contact into one unbroken chain', async () => {
      const db = await sharedDb();
      const core = { config, db, ledger };
      const { contact } = await upsertContact(core, { actor: 'system' }, uniqueEmail(), {});
      const topics = ['newsletter', 'offers', 'events', 'product-updates'];
      await Promise.all(
        topics.flatMap((topic) =>
          ['email', 'sms'].map((channel) =>
            setPreferences(core, { actor: 'recipient' }, contact.id, [
              {
                channel: channel as 'email',
                topic: topic === 'newsletter' && channel === 'sms' ? null : topic,
                status: 'unsubscribed',
              },
            ]),
          ),
        ),
      );
      const rows = await db
        .knex('events')
        .where({ chain: `contact:${contact.id}` })
        .orderBy('id');
      expect(rows.length).to.equal(1 + topics.length * 2);
      for (let i = 1; i < rows.length; i++) expect(rows[i].prev_hash).to.equal(rows[i - 1].hash);
      expect(rows[0].prev_hash).to.equal(null);
    });
  });

  describe('verify', () => {
    let fresh: FreshDb;
    beforeEach(async function () {
      this.timeout(60_000);
      fresh = await freshDb();
      await migrateLatest(fresh.db.knex);
    });
    afterEach(() => fresh?.drop());

    async function seed() {
      const core = { config, db: fresh.db, ledger };
      const { contact } = await upsertContact(core, { actor: 'system' }, uniqueEmail(), { name: 'A' });
      await setPreferences(core, { actor: 'recipient', ip: '203.0.113.9' }, contact.id, [
        { channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
      ]);
      await setPreferences(core, { actor: 'recipient' }, contact.id, [
        { channel: 'email', topic: null, status: 'unsubscribed' },
      ]);
      return contact.id;
    }

    async function tamper(sql: string) {
      const k = fresh.db.knex;
      // What an intruder with database access would do: switch the guard off, edit, switch it on.
      await k.raw('alter table events disable trigger events_append_only');
      await k.raw(sql);
      await k.raw('alter table events enable trigger events_append_only');
    }

    it('reports that all chains hold when nothing was touched', async () => {
      await seed();
      const result = await ledger.verify(fresh.db.knex);
      expect(result).to.deep.include({ ok: true, chains: 1 });
    });

    it('finds a row whose content was altered', async () => {
      const contactId = await seed();
      const [target] = await fresh.db.knex('events').where({ contact_id: contactId, topic: 'newsletter' });
      await tamper(`update events set new_value = 'subscribed' where id = ${target.id}`);
      const result = await ledger.verify(fresh.db.knex);
      expect(result.ok).to.equal(false);
      if (!result.ok) {
        expect(result.brokenAt.id).to.equal(target.id);
        expect(result.brokenAt.problem).to.match(/altered/);
      }
    });

    it('finds a removed row', async () => {
      const contactId = await seed();
      const rows = await fresh.db.knex('events').where({ contact_id: contactId }).orderBy('id');
      await tamper(`delete from events where id = ${rows[1].id}`);
      const result = await ledger.verify(fresh.db.knex);
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.brokenAt.id).to.equal(rows[2].id);
    });

    it('finds a forged row even when its author recomputed a plain hash chain', async () => {
      const contactId = await seed();
      const last = await fresh.db
        .knex('events')
        .where({ contact_id: contactId })
        .orderBy('id', 'desc')
        .first();
      const { createHash } = await import('node:crypto');
      const forgedHash = createHash('sha256').update('forged').digest('hex');
      await fresh.db.knex('events').insert({
        occurred_at: new Date(),
        chain: last.chain,
        contact_id: contactId,
        type: 'preference.changed',
        channel: 'email',
        topic: '*',
        old_value: 'unsubscribed',
        new_value: 'subscribed',
        actor: 'recipient',
        prev_hash: last.hash,
        hash: forgedHash,
      });
      const result = await ledger.verify(fresh.db.knex);
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.brokenAt.problem).to.match(/altered/);
    });

    it("finds each chain's last event through an index, and events_chain holds no contact's events", async () => {
      const k = fresh.db.knex;
      const contactId = await seed();
      const [account] = await k('accounts').insert({ external_id: 'chain-heads' }).returning('id');
      // the statements the ledger itself runs to find a chain's last event, as it sends them
      const lookups: { sql: string; bindings: unknown[] }[] = [];
      const record = (q: { sql: string; bindings?: unknown[] }) => {
        if (/from "?events"?/.test(q.sql) && /"?hash"?/.test(q.sql) && !/^insert/i.test(q.sql))
          lookups.push({ sql: q.sql, bindings: q.bindings ?? [] });
      };
      k.on('query', record);
      try {
        await k.transaction(async (trx) => {
          for (let i = 0; i < 2; i++) {
            await ledger.append(trx, { actor: 'system' }, { type: 'account.updated', accountId: account.id });
            await ledger.append(trx, { actor: 'system' }, { type: 'topic.created', data: { i } });
            await ledger.appendMany(trx, { actor: 'system' }, [{ type: 'contact.updated', contactId }]);
            await ledger.append(trx, { actor: 'system' }, { type: 'contact.updated', contactId });
          }
        });
      } finally {
        k.off('query', record);
      }
      // three chains, each unbroken: the contact's (3 + 4), the account's (2), the system's (2)
      expect(await ledger.verify(k)).to.deep.include({ ok: true, events: 11, chains: 3 });
      const counts = await k('events').select('chain').count('* as n').groupBy('chain');
      expect(Object.fromEntries(counts.map((c) => [c.chain, Number(c.n)]))).to.deep.equal({
        [`contact:${contactId}`]: 7,
        [`account:${account.id}`]: 2,
        system: 2,
      });

      const { rows: def } = await k.raw("select indexdef from pg_indexes where indexname = 'events_chain'");
      expect(def[0].indexdef).to.match(/\(chain, id\) WHERE \(contact_id IS NULL\)$/);
      // each of those statements, as the planner sees it when it may not read the whole table
      expect(lookups).to.have.length(8);
      const plans: string[] = [];
      await k.transaction(async (trx) => {
        await trx.raw('set local enable_seqscan = off');
        for (const { sql, bindings } of lookups) {
          const { rows } = await trx.raw(`explain ${sql.replace(/\$\d+/g, '?')}`, bindings as never);
          plans.push(rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n'));
        }
      });
      // per round: the account's head, the system's, the contact's through appendMany and append
      for (let round = 0; round < 2; round++) {
        const [acc, sys, many, one] = plans.slice(round * 4, round * 4 + 4);
        expect(acc).to.match(/Index Scan Backward using events_chain on events/);
        expect(sys).to.match(/Index Scan Backward using events_chain on events/);
        expect(many).to.match(/Index Scan Backward using events_contact on events/);
        expect(one).to.match(/Index Scan Backward using events_contact on events/);
      }
    });
  });
});
