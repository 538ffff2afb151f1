// Real databases for tests: in-memory PGlite by default, PostgreSQL when DATABASE_URL is set (CI).
// One migrated database is shared by the whole run (tests use unique data: see unique.ts);
// freshDb() gives an empty one for tests that must own theirs (migrations, cutting the database,
// forging the ledger).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrateLatest } from '../../db/migrate.ts';
import { createDb, type Db } from '../../server/db.ts';
import { TEST_HASH_SECRET } from './app.ts';

let shared: Promise<Db> | undefined;

export function sharedDb(): Promise<Db> {
  shared ??= (async () => {
    const db = await createDb({ databaseUrl: process.env.DATABASE_URL, memory: !process.env.DATABASE_URL });
    await migrateLatest(db.knex, { hashSecret: Buffer.from(TEST_HASH_SECRET) });
    return db;
  })();
  return shared;
}

export interface FreshDb {
  db: Db;
  url: string | undefined;
  drop(): Promise<void>;
}

/** An empty, unmigrated database of the same kind as the shared one. */
export async function freshDb(): Promise<FreshDb> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const db = await createDb({ memory: true });
    return { db, url: undefined, drop: () => db.close() };
  }
  const name = `pc_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = await createDb({ databaseUrl: url.toString() });
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.close().catch(() => {});
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
