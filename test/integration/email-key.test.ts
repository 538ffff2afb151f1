// contacts.email_key compares byte for byte (migration 20261127000300): the one unique index
// serves the check's probe, the console's "starts with" and its order by address, and no second
// index carries every key again. Keys written before the migration must still be found, still be
// unique, and be found by their start.
import { expect } from 'chai';
import { migrateLatest, migrateTo } from '../../db/migrate.ts';
import { searchContacts } from '../../server/admin/queries.ts';
import { TEST_HASH_SECRET } from '../support/app.ts';
import { type FreshDb, freshDb } from '../support/db.ts';

// punctuation a locale's collation would skip over, LIKE's own wildcards, letters past ASCII
const KEYS = [
  'ab@example.com',
  'a-b@example.com',
  'a.c@example.com',
  'a_b@example.com',
  'a%b@example.com',
  'zoë@example.com',
  'ärger@example.com',
  'zz@example.com',
];

const staff = { userId: 'test', role: 'staff' as const, accountId: null };

describe('the address key, compared byte for byte', () => {
  let fresh: FreshDb;
  before(async () => {
    fresh = await freshDb();
  });
  after(() => fresh?.drop());

  it('keeps the keys written before it found, unique and searchable by their start through the one index', async () => {
    const k = fresh.db.knex;
    await migrateTo(k, '20261127000200_contact_ids_in_time_order');
    await k('contacts').insert(
      KEYS.map((key, i) => ({ email: key, email_key: key, email_hash: String(i).padStart(64, 'e') })),
    );
    await migrateLatest(k, { hashSecret: Buffer.from(TEST_HASH_SECRET) });

    const { rows: indexes } = await k.raw(
      "select indexname from pg_indexes where tablename = 'contacts' and indexdef like '%email_key%'",
    );
    expect(indexes.map((r: { indexname: string }) => r.indexname).sort()).to.deep.equal([
      'contacts_email_domain',
      'contacts_email_key',
    ]);

    for (const key of KEYS) {
      const found = await k('contacts').where({ email_key: key }).whereNull('erased_at').pluck('email');
      expect(found, key).to.deep.equal([key]);
    }
    const twin = k('contacts').insert({
      email: 'AB@example.com',
      email_key: 'ab@example.com',
      email_hash: 'f'.repeat(64),
    });
    await twin.then(
      () => expect.fail('a second live contact with the same key was written'),
      (err: { code?: string }) => expect(err.code).to.equal('23505'),
    );

    // the console's "starts with", wildcards taken literally, read through the unique index with
    // sequential scans priced out
    const startsWith = async (q: string) =>
      (await searchContacts(k, staff, { q }, 'US')).rows.map((r: { email: string }) => r.email).sort();
    expect(await startsWith('a%b@')).to.deep.equal(['a%b@example.com']);
    expect(await startsWith('a_b@')).to.deep.equal(['a_b@example.com']);
    expect(await startsWith('zo')).to.deep.equal(['zoë@example.com']);
    expect(await startsWith('ä')).to.deep.equal(['ärger@example.com']);
    await k.transaction(async (trx) => {
      await trx.raw('set local enable_seqscan = off');
      const { rows } = await trx.raw(
        "explain select id from contacts where erased_at is null and email_key like 'a-%' order by email_key",
      );
      const plan = rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
      expect(plan).to.include('contacts_email_key').and.not.include('Seq Scan').and.not.include('Sort');
    });

    // the order by address is the keys' bytes in UTF-8
    const ordered = await k('contacts').whereNull('erased_at').orderBy('email_key').pluck('email_key');
    const bytewise = [...KEYS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(ordered).to.deep.equal(bytewise);
  });
});
