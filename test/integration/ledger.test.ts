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
  });
});
