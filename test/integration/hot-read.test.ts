// db.read, the hot path's reads (the check, the stream's batches, the pages' link lookups): rows
// and types as the rest of the code expects them, errors that leave the statement usable, and on
// PostgreSQL a row description asked for once per connection, not at every execution
// (server/hot-read.ts), counted on the wire and again after the connection is cut.
import { expect } from 'chai';
import { createDb, type Db } from '../../server/db.ts';
import { sharedDb } from '../support/db.ts';
import { proxiedDb } from '../support/proxy.ts';

const SHAPES = `select $1::uuid as id, $2::text[] as tags, 42::int8 as n, 1.5::float8 as f,
  true as yes, null::text as nothing, '2026-11-28T01:02:03Z'::timestamptz as at,
  '{"a":[1]}'::jsonb as doc, $3::int as i`;

describe('db.read (the hot path reads)', () => {
  let db: Db;
  before(async () => {
    db = await sharedDb();
  });

  it('answers rows with parsed types, the same on every execution', async () => {
    const id = '0190f1e2-7a3b-7c4d-8e5f-0123456789ab';
    for (let i = 0; i < 25; i++) {
      const [row] = await db.read('hot_read_shapes', SHAPES, [id, ['a', 'b,c', 'd"e'], i]);
      expect(row).to.deep.equal({
        id,
        tags: ['a', 'b,c', 'd"e'],
        n: 42,
        f: 1.5,
        yes: true,
        nothing: null,
        at: new Date('2026-11-28T01:02:03Z'),
        doc: { a: [1] },
        i,
      });
    }
  });

  it('answers no rows and many rows', async () => {
    const sql = 'select g as n, g::text as s from generate_series(1, $1::int) g';
    expect(await db.read('hot_read_series', sql, [0])).to.deep.equal([]);
    const rows = await db.read<{ n: number; s: string }>('hot_read_series', sql, [1000]);
    expect(rows).to.have.length(1000);
    expect(rows[999]).to.deep.equal({ n: 1000, s: '1000' });
    expect(await db.read('hot_read_series', sql, [2])).to.deep.equal([
      { n: 1, s: '1' },
      { n: 2, s: '2' },
    ]);
  });

  it('rejects a bad value with the database error, and the statement still works after', async () => {
    const sql = 'select $1::uuid as id';
    // First execution fails at Bind: the statement is parsed but never described.
    let err: (Error & { code?: string }) | undefined;
    await db.read('hot_read_uuid', sql, ['not-a-uuid']).catch((e) => {
      err = e;
    });
    expect(err?.code).to.equal('22P02');
    const id = '0190f1e2-7a3b-7c4d-8e5f-0123456789ac';
    for (let i = 0; i < 12; i++) expect(await db.read('hot_read_uuid', sql, [id])).to.deep.equal([{ id }]);
    // An error mid-execution, once described: the next call answers normally.
    const div = 'select 10 / $1::int as q';
    expect(await db.read('hot_read_div', div, [5])).to.deep.equal([{ q: 2 }]);
    let divErr: (Error & { code?: string }) | undefined;
    await db.read('hot_read_div', div, [0]).catch((e) => {
      divErr = e;
    });
    expect(divErr?.code).to.equal('22012');
    expect(await db.read('hot_read_div', div, [2])).to.deep.equal([{ q: 5 }]);
  });

  if (process.env.DATABASE_URL) {
    it('refuses a second text under a name already used', async () => {
      await db.read('hot_read_unique', 'select 1 as one', []);
      let err: Error | undefined;
      // Every connection of the pool must refuse, so ask more times than it has connections.
      for (let i = 0; i < 20 && !err; i++)
        await db.read('hot_read_unique', 'select 2 as two', []).catch((e) => {
          err = e;
        });
      expect(err?.message).to.match(/hot_read_unique/);
    });

    it('asks for the row description once a connection, again after a cut', async () => {
      // The test proxy with a tap on what the client sends: after the startup packet (no type
      // byte), each frontend message is a type byte and a length.
      let describes = 0;
      let binds = 0;
      const countMessages = () => {
        let pending = Buffer.alloc(0);
        let started = false;
        return (chunk: Buffer) => {
          pending = Buffer.concat([pending, chunk]);
          for (;;) {
            if (!started) {
              if (pending.length < 8) break;
              const len = pending.readInt32BE(0);
              if (pending.length < len) break;
              const code = pending.readInt32BE(4);
              pending = pending.subarray(len);
              if (code !== 80877103) started = true; // an SSL request is answered, then startup
              continue;
            }
            if (pending.length < 5) break;
            const len = pending.readInt32BE(1);
            if (pending.length < len + 1) break;
            const type = String.fromCharCode(pending[0]);
            if (type === 'D') describes++;
            if (type === 'B') binds++;
            pending = pending.subarray(len + 1);
          }
        };
      };
      const p = await proxiedDb(undefined, { poolSize: 1, tap: countMessages });
      try {
        const sql = 'select $1::int + 1 as n';
        for (let i = 0; i < 50; i++)
          expect(await p.db.read('hot_read_counted', sql, [i])).to.deep.equal([{ n: i + 1 }]);
        expect(binds).to.equal(50);
        expect(describes).to.equal(1);
        // The connection dies: the next connection is a new one and describes again.
        await p.cut();
        await p.db.read('hot_read_counted', sql, [0]).catch(() => {});
        await p.restore();
        for (let i = 0; i < 20; i++)
          expect(await p.db.read('hot_read_counted', sql, [i])).to.deep.equal([{ n: i + 1 }]);
        expect(describes).to.equal(2);
      } finally {
        await p.close();
      }
    });

    it('reads the new columns after a table changes under a described statement', async () => {
      const one = await createDb({ databaseUrl: process.env.DATABASE_URL, poolSize: 1 });
      const table = `hot_read_${Date.now()}`;
      try {
        await one.knex.raw(`create table ${table} (id int primary key, a text)`);
        await one.knex.raw(`insert into ${table} values (1, 'x')`);
        const sql = `select * from ${table} where id = $1`;
        for (let i = 0; i < 3; i++)
          expect(await one.read('hot_read_star', sql, [1])).to.deep.equal([{ id: 1, a: 'x' }]);
        await one.knex.raw(`alter table ${table} add column b int not null default 7`);
        // PostgreSQL refuses the old plan once ("cached plan must not change result type")...
        let err: (Error & { code?: string }) | undefined;
        await one.read('hot_read_star', sql, [1]).catch((e) => {
          err = e;
        });
        expect(err?.code).to.equal('0A000');
        // ...and the next read (on a new connection: pg's pool closes one whose query failed)
        // describes the statement again and reads the table as it is now.
        expect(await one.read('hot_read_star', sql, [1])).to.deep.equal([{ id: 1, a: 'x', b: 7 }]);
        expect(await one.read('hot_read_star', sql, [1])).to.deep.equal([{ id: 1, a: 'x', b: 7 }]);
      } finally {
        await one.knex.raw(`drop table if exists ${table}`);
        await one.close();
      }
    });

    it('fails a read whose connection is cut mid-flight, and reads again once it is back', async () => {
      const p = await proxiedDb(undefined, { statementTimeoutMs: 3000 });
      try {
        const sql = 'select pg_sleep($1::float8) is not null as slept';
        expect(await p.db.read('hot_read_sleep', sql, [0])).to.deep.equal([{ slept: true }]);
        const pendingRead = p.db.read('hot_read_sleep', sql, [1]);
        setTimeout(() => void p.cut(), 100);
        let err: Error | undefined;
        await pendingRead.catch((e) => {
          err = e;
        });
        expect(err, 'a cut connection fails the read').to.be.instanceOf(Error);
        await p.restore();
        expect(await p.db.read('hot_read_sleep', sql, [0])).to.deep.equal([{ slept: true }]);
      } finally {
        await p.close();
      }
    });
  }
});
