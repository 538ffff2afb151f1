// insertRows writes what it is given, byte for byte, by COPY on PostgreSQL and by a JSON
// parameter on PGlite (CI runs this file on both): the values COPY's text format must escape
// (backslash, tab, newline, return, the literal \N), array elements with quotes, commas and
// braces, nested JSON, NULLs and times.
import { expect } from 'chai';
import { type Cell, type Column, copyChunks, copyLines, insertRows } from '../../server/bulk-insert.ts';
import type { Db } from '../../server/db.ts';
import { sharedDb } from '../support/db.ts';

const COLUMNS: Column[] = [
  { name: 'n', type: 'int' },
  { name: 'label', type: 'text' },
  { name: 'tags', type: 'text[]' },
  { name: 'doc', type: 'jsonb' },
  { name: 'at', type: 'timestamptz' },
];

const AWKWARD = [
  'plain',
  'back\\slash',
  'tab\there',
  'new\nline',
  'carriage\rreturn',
  '\\N',
  '\\.',
  '"quoted", {braced}',
  'NULL',
  '',
  'José 李 🙂',
];

describe('insertRows', () => {
  let db: Db;
  before(async () => {
    db = await sharedDb();
    await db.knex.raw(
      'create table if not exists bulk_insert_probe (n int primary key, label text, tags text[], doc jsonb, at timestamptz)',
    );
  });
  after(() => db.knex.raw('drop table if exists bulk_insert_probe'));

  it('takes its rows from a generator, each read once and in order, and an empty one writes nothing', async () => {
    await db.knex('bulk_insert_probe').del();
    const made: number[] = [];
    function* rows() {
      for (let n = 5000; n < 7500; n++) {
        made.push(n);
        yield [n, `row ${n}`, [`t${n}`], { n }, null];
      }
    }
    await db.knex.transaction((trx) => insertRows(trx, 'bulk_insert_probe', COLUMNS, rows()));
    expect(made).to.have.length(2500);
    const back = await db.knex('bulk_insert_probe').orderBy('n');
    expect(back.map((r) => r.n)).to.deep.equal(made);
    expect(back[1234]).to.include({ label: 'row 6234' });
    expect(back[1234].tags).to.deep.equal(['t6234']);
    function* none(): Generator<Cell[]> {}
    await db.knex.transaction((trx) => insertRows(trx, 'bulk_insert_probe', COLUMNS, none()));
    expect(await db.knex('bulk_insert_probe').count({ n: '*' }).first()).to.deep.equal({ n: 2500 });
    await db.knex('bulk_insert_probe').del();
  });

  it('writes every awkward value as given, in both the text, array and JSON columns', async () => {
    const at = new Date('2026-11-27T10:11:12.345Z');
    const rows: Cell[][] = AWKWARD.map((s, i) => [
      i,
      s,
      [s, 'x,y', s],
      { s, nested: { list: [s, null] } },
      at,
    ]);
    rows.push([AWKWARD.length, null, [], null, null]);
    await db.knex.transaction((trx) => insertRows(trx, 'bulk_insert_probe', COLUMNS, rows));
    const back = await db.knex('bulk_insert_probe').orderBy('n');
    expect(back).to.have.length(rows.length);
    AWKWARD.forEach((s, i) => {
      expect(back[i].label).to.equal(s);
      expect(back[i].tags).to.deep.equal([s, 'x,y', s]);
      expect(back[i].doc).to.deep.equal({ s, nested: { list: [s, null] } });
      expect(new Date(back[i].at).toISOString()).to.equal(at.toISOString());
    });
    const last = back[AWKWARD.length];
    expect([last.label, last.doc, last.at]).to.deep.equal([null, null, null]);
    expect(last.tags).to.deep.equal([]);
  });

  it('writes rows across many of its 64 KB buffers, and one row longer than a buffer, whole', async () => {
    // 3,000 rows of about 100 characters, some of them three bytes each in UTF-8, then one value
    // of 200,000 characters: the text crosses buffer boundaries at every kind of character.
    const wide = (i: number) => `${'é李🙂'.repeat(i % 7)}${String(i).padStart(6, '0')}\t${'x'.repeat(80)}`;
    const rows: Cell[][] = Array.from({ length: 3000 }, (_, i) => [
      5000 + i,
      wide(i),
      [wide(i)],
      { v: wide(i) },
      null,
    ]);
    const long = '李'.repeat(100_000) + 'a\\b'.repeat(25_000);
    rows.push([9000, long, [], null, null]);
    await db.knex.transaction((trx) => insertRows(trx, 'bulk_insert_probe', COLUMNS, rows));
    const back = await db.knex('bulk_insert_probe').whereBetween('n', [5000, 9000]).orderBy('n');
    expect(back).to.have.length(rows.length);
    back.slice(0, 3000).forEach((r, i) => {
      expect(r.label).to.equal(wide(i));
      expect(r.tags).to.deep.equal([wide(i)]);
      expect(r.doc).to.deep.equal({ v: wide(i) });
    });
    expect(back[3000].label).to.equal(long);
    // what PostgreSQL was sent (PGlite takes the JSON path): many buffers, a line a row
    const chunks = copyChunks(COLUMNS, rows);
    expect(chunks.length).to.be.greaterThan(10);
    expect(Buffer.concat(chunks).toString().split('\n')).to.have.length(rows.length + 1);
  });

  it('writes nothing of a batch with a bad row: the transaction fails whole', async () => {
    const before = await db.knex('bulk_insert_probe').count({ c: '*' }).first();
    const rows: Cell[][] = [
      [1000, 'fine', [], {}, null],
      [1001, 'fine too', [], {}, null],
      [1000, 'the same key again', [], {}, null],
    ];
    let failed: unknown;
    try {
      await db.knex.transaction((trx) => insertRows(trx, 'bulk_insert_probe', COLUMNS, rows));
    } catch (err) {
      failed = err;
    }
    expect((failed as { code?: string })?.code).to.equal('23505');
    const after = await db.knex('bulk_insert_probe').count({ c: '*' }).first();
    expect(Number(after?.c)).to.equal(Number(before?.c));
  });

  it('escapes what COPY reads specially, one line a row', () => {
    const text = copyLines(COLUMNS, [[1, 'a\tb\\c\nd', ['q"e', 'b\\s'], { k: 'v\n' }, null]]);
    expect(text).to.equal('1\ta\\tb\\\\c\\nd\t{"q\\\\"e","b\\\\\\\\s"}\t{"k":"v\\\\n"}\t\\N\n');
  });

  it('refuses to run outside a transaction (it would hold a pooled connection it never gives back)', async () => {
    let failed: unknown;
    try {
      await insertRows(db.knex as never, 'bulk_insert_probe', COLUMNS, [[2000, 'x', [], {}, null]]);
    } catch (err) {
      failed = err;
    }
    expect(String(failed)).to.match(/inside the transaction/);
    expect(await db.knex('bulk_insert_probe').where({ n: 2000 }).first()).to.equal(undefined);
  });

  it('refuses a table or column name it would have to quote', async () => {
    let failed: unknown;
    try {
      await db.knex.transaction((trx) =>
        insertRows(trx, 'bulk_insert_probe; drop table events', COLUMNS, [[1, 'x', [], {}, null]]),
      );
    } catch (err) {
      failed = err;
    }
    expect(String(failed)).to.match(/not a plain table or column name/);
  });
});
