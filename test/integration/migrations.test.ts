import { expect } from 'chai';
import { migrateLatest } from '../../db/migrate.ts';
import { type FreshDb, freshDb } from '../support/db.ts';

describe('migrations', () => {
  let fresh: FreshDb;
  before(async function () {
    this.timeout(60_000);
    fresh = await freshDb();
  });
  after(() => fresh?.drop());

  it('build the whole data model on an empty database, and a second run changes nothing', async () => {
    const applied = await migrateLatest(fresh.db.knex);
    expect(applied.length).to.be.greaterThan(0);
    expect(await migrateLatest(fresh.db.knex)).to.deep.equal([]);
    const { rows } = await fresh.db.knex.raw(
      "select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'",
    );
    const tables = rows.map((r: { table_name: string }) => r.table_name);
    for (const t of [
      'accounts',
      'contacts',
      'topics',
      'preferences',
      'disclosures',
      'consents',
      'suppressions',
      'events',
      'api_keys',
      'staff_users',
      'sessions',
      'messages',
      'idempotency_keys',
      'import_jobs',
      'webhook_events',
    ]) {
      expect(tables, t).to.include(t);
    }
  });

  it('seed the topics of the spec with their channels', async () => {
    const topics = await fresh.db.knex('topics').select('slug', 'kind', 'channels').orderBy('position');
    expect(topics).to.deep.equal([
      { slug: 'newsletter', kind: 'marketing', channels: ['email'] },
      { slug: 'product-updates', kind: 'marketing', channels: ['email', 'sms'] },
      { slug: 'events', kind: 'marketing', channels: ['email', 'sms', 'voice'] },
      { slug: 'offers', kind: 'marketing', channels: ['email', 'sms', 'voice'] },
      { slug: 'account', kind: 'operational', channels: ['email', 'sms', 'voice'] },
      { slug: 'administrative', kind: 'operational', channels: ['email', 'sms'] },
      { slug: 'security', kind: 'operational', channels: ['email', 'sms', 'voice'] },
    ]);
  });

  it('seed version 1 of the English sms and voice disclosures, which cannot be edited', async () => {
    const rows = await fresh.db
      .knex('disclosures')
      .select('channel', 'locale', 'version', 'text', 'text_hash');
    expect(rows.map((r) => `${r.channel}/${r.locale}/${r.version}`).sort()).to.deep.equal([
      'sms/en/1',
      'voice/en/1',
    ]);
    const sms = rows.find((r) => r.channel === 'sms');
    const { createHash } = await import('node:crypto');
    expect(sms.text_hash).to.equal(createHash('sha256').update(sms.text).digest('hex'));
    expect(sms.text).to.match(/STOP/);
    let refused = false;
    try {
      await fresh.db.knex('disclosures').update({ text: 'changed text that is long enough' });
    } catch (err) {
      refused = /append-only/.test((err as Error).message);
    }
    expect(refused).to.equal(true);
  });

  it('enforce the rules in the database itself', async () => {
    const k = fresh.db.knex;
    const rejects = async (q: PromiseLike<unknown>) => {
      try {
        await q;
      } catch {
        return true;
      }
      return false;
    };
    await k('contacts').insert({ email: 'Ann+news@Example.com', email_hash: 'a'.repeat(64) });
    expect(
      await rejects(k('contacts').insert({ email: 'ann+NEWS@example.com', email_hash: 'a'.repeat(64) })),
      'unique lower(email)',
    ).to.equal(true);
    await k('contacts').insert({
      email: 'bob@example.com',
      phone: '+14155552671',
      email_hash: 'a'.repeat(64),
    });
    expect(
      await rejects(
        k('contacts').insert({
          email: 'carl@example.com',
          phone: '+14155552671',
          email_hash: 'a'.repeat(64),
        }),
      ),
      'one contact per phone',
    ).to.equal(true);
    expect(
      await rejects(
        k('contacts').insert({ email: 'dan@example.com', phone: '0415 555', email_hash: 'a'.repeat(64) }),
      ),
      'E.164 only',
    ).to.equal(true);
    expect(
      await rejects(k('accounts').insert({ external_id: 'x1', agreement_status: 'maybe' })),
      'agreement enum',
    ).to.equal(true);
    expect(
      await rejects(k('accounts').insert({ external_id: 'x2', agreement_status: 'signed' })),
      'signed needs evidence',
    ).to.equal(true);
    expect(
      await rejects(k('topics').insert({ slug: 'fax', name: 'Fax', kind: 'marketing', channels: ['fax'] })),
      'channels',
    ).to.equal(true);
    expect(
      await rejects(
        k('staff_users').insert({ email: 'x@example.com', password_hash: 'x', role: 'customer_admin' }),
      ),
      'customer_admin needs account',
    ).to.equal(true);
  });
});
