// The console's name search folds accents and case with pc_fold, behind two indexes. Its ASCII
// shortcut (migration 20261127000100) must give what the translation table gives for every
// input, or the indexes built before it would hold entries a search can no longer find.
import { expect } from 'chai';
import type { Knex } from 'knex';
import { migrateLatest, migrateTo } from '../../db/migrate.ts';
import { FROM, TO } from '../../db/migrations/20261126001400_contact_search.ts';
import { TEST_HASH_SECRET } from '../support/app.ts';
import { type FreshDb, freshDb } from '../support/db.ts';

const NAMES = [
  'Person 12345',
  'ANN LEE',
  "O'Brien-Smith, Jr.",
  '',
  '   ',
  'José Zaragoza',
  'ÅNGSTRÖM Øre',
  'Łukasz Żółć',
  'Straße',
  'Δημήτρης',
  'Иван Петров',
  '李小龍',
  'Zoe\u0308 (decomposed)',
  'emoji 🙂 here',
];

describe('pc_fold, the name search fold', () => {
  let fresh: FreshDb;
  before(async () => {
    fresh = await freshDb();
  });
  after(() => fresh?.drop());

  it('answers as the translation table did for every name, so the older indexes stay right', async () => {
    const k = fresh.db.knex;
    // names indexed by the function as it was
    await migrateTo(k, '20261126002100_email_key_covering');
    await k('contacts').insert(
      NAMES.map((name, i) => ({
        email: `fold${i}@example.com`,
        email_key: `fold${i}@example.com`,
        email_hash: String(i).padStart(64, 'f'),
        name,
      })),
    );
    await migrateLatest(k, { hashSecret: Buffer.from(TEST_HASH_SECRET) });

    const { rows: encoding } = await k.raw("select current_setting('server_encoding') as e");
    const { rows: def } = await k.raw("select pg_get_functiondef('pc_fold'::regproc) as d");
    if (encoding[0].e === 'UTF8') expect(def[0].d).to.include('octet_length');

    const { rows } = await k.raw(
      `select n, pc_fold(n) as now, lower(translate(n, ?, ?)) as table_fold
         from unnest(?::text[]) as n`,
      [FROM, TO, [...NAMES, null] as unknown as Knex.Value],
    );
    expect(rows).to.have.length(NAMES.length + 1);
    for (const r of rows) expect(r.now, JSON.stringify(r.n)).to.equal(r.table_fold);
    expect(rows.find((r: { n: string }) => r.n === 'José Zaragoza').now).to.equal('jose zaragoza');
    expect(rows.find((r: { n: string }) => r.n === 'ÅNGSTRÖM Øre').now).to.equal('angstrom ore');

    // the rows written under the old body are found as the console's search asks, with
    // sequential scans priced out so the planner reads the two indexes
    await k.transaction(async (trx) => {
      await trx.raw('set local enable_seqscan = off');
      for (const [q, i] of [
        ['jose', 5],
        ['angstrom', 6],
        ['person 1', 0],
      ] as const) {
        const found = await trx('contacts')
          .whereRaw('pc_fold(name) like pc_fold(?)', [`${q}%`])
          .whereNull('erased_at')
          .pluck('email');
        expect(found, q).to.deep.equal([`fold${i}@example.com`]);
      }
      const words = await trx('contacts')
        .whereRaw("string_to_array(pc_fold(name), ' ') @> array[pc_fold(?)]::text[]", ['ÖRE'])
        .whereNull('erased_at')
        .pluck('email');
      expect(words).to.deep.equal(['fold6@example.com']);
    });
  });
});
