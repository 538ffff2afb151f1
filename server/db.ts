// One place that knows which PostgreSQL we talk to and how its dialects differ.
// - DATABASE_URL set: a real server through `pg` (knex pool + a small pool of prepared
//   statements for the hot read path).
// - otherwise: PGlite (PostgreSQL in WebAssembly) in ./data, locked against a second process,
//   or in memory for tests. PGlite has exactly ONE connection: inside a transaction always pass
//   `trx`, never the root knex (it would wait forever for the connection the transaction holds).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { withDeadline } from './deadline.ts';
import { HotRead } from './hot-read.ts';

// int8 (count(*), bigserial ids) arrive as strings from pg and as numbers from PGlite: make both
// numbers. Every id we keep in int8 stays far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export type DbKind = 'pg' | 'pglite';

export interface Db {
  kind: DbKind;
  knex: Knex;
  /**
   * A read outside any transaction on the hot path: a named prepared statement on pg,
   * the single connection on PGlite. `text` uses $1..$n placeholders.
   */
  read<T = Record<string, unknown>>(name: string, text: string, values: unknown[]): Promise<T[]>;
  /** Throws when the database does not answer within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface DbOptions {
  databaseUrl?: string;
  /** PGlite directory; ignored with databaseUrl. */
  dataDir?: string;
  /** PGlite in memory (tests). */
  memory?: boolean;
  poolSize?: number;
  /** Per-statement time limit on pg, so a stuck database fails a check closed instead of hanging. */
  statementTimeoutMs?: number;
}

export class DatabaseLockedError extends Error {}

function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const lockFile = path.join(dir, 'pglite.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lockFile, 'utf8'));
      let alive = false;
      try {
        if (pid > 0) {
          process.kill(pid, 0);
          alive = pid !== process.pid || attempt > 0;
        }
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) {
        throw new DatabaseLockedError(
          `The embedded database in ${dir} is in use by process ${pid}. Stop that process first ` +
            '(two processes writing one PGlite directory corrupt it), or set DATABASE_URL.',
        );
      }
      rmSync(lockFile, { force: true }); // stale lock from a process that died
    }
  }
  throw new DatabaseLockedError(`Could not lock ${dir}`);
}

export async function createDb(opts: DbOptions): Promise<Db> {
  if (opts.databaseUrl) return createPgDb(opts.databaseUrl, opts);
  return createPgliteDb(opts);
}

async function createPgDb(url: string, opts: DbOptions): Promise<Db> {
  const statementTimeout = opts.statementTimeoutMs ?? 10_000;
  const connection = {
    connectionString: url,
    statement_timeout: statementTimeout,
    connectionTimeoutMillis: 3000,
  };
  const knex = knexFactory({
    client: 'pg',
    connection,
    pool: { min: 0, max: opts.poolSize ?? 10 },
    acquireConnectionTimeout: 5000,
  });
  const hot = new pg.Pool({ ...connection, max: opts.poolSize ?? 10, idleTimeoutMillis: 30_000 });
  // An idle client that loses its server emits 'error' on the pool; without a listener that
  // would crash the process. The next query fails (503) and a new client reconnects.
  hot.on('error', () => {});
  return {
    kind: 'pg',
    knex,
    read<T>(name: string, text: string, values: unknown[]) {
      // A Submittable (hot-read.ts) with pg-pool's callback form: the pool checks a client out,
      // hands it the query, and returns the client when the query calls back (destroying it
      // after an error). pg's typings know a Submittable only in the form that returns it.
      return new Promise<T[]>((resolve, reject) => {
        hot.query(new HotRead(name, text, values) as unknown as string, (err, res) =>
          err ? reject(err) : resolve(res.rows as T[]),
        );
      });
    },
    async ping(timeoutMs = 2000) {
      await withDeadline(hot.query('select 1'), timeoutMs, 'database ping');
    },
    async close() {
      await Promise.all([knex.destroy(), hot.end()]);
    },
  };
}

let emptyCluster: Promise<Blob | File> | undefined;

async function createPgliteDb(opts: DbOptions): Promise<Db> {
  // Loaded only here: a server on PostgreSQL never needs PGlite's code in memory.
  const [{ PGlite }, { default: ClientPGLite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('knex-pglite'),
  ]);
  let unlock = () => {};
  let pglite: PGlite;
  if (opts.memory) {
    // In-memory databases (tests) start as copies of one initialised cluster: initdb in
    // WebAssembly takes 1.5-2.5 s here, loading a copy of its result 0.3 s.
    emptyCluster ??= (async () => {
      const first = new PGlite();
      await first.waitReady;
      const dump = await first.dumpDataDir('none');
      await first.close();
      return dump;
    })();
    pglite = new PGlite({ loadDataDir: await emptyCluster });
  } else {
    const dir = path.resolve(opts.dataDir ?? 'data', 'pgdata');
    unlock = lockDataDir(path.dirname(dir));
    try {
      pglite = new PGlite(dir);
    } catch (err) {
      unlock();
      throw err;
    }
  }
  await pglite.waitReady;
  const knex = knexFactory({
    client: ClientPGLite as unknown as typeof knexFactory.Client,
    connection: () => ({ pglite }) as object,
  } as Knex.Config);
  let closed = false;
  return {
    kind: 'pglite',
    knex,
    async read<T>(_name: string, text: string, values: unknown[]) {
      // Borrow knex's one connection so a read waits for a running transaction instead of
      // slipping inside it; PGlite then binds $n and arrays natively.
      const client = knex.client as unknown as {
        acquireConnection(): Promise<PGlite>;
        releaseConnection(c: PGlite): Promise<void>;
      };
      const conn = await client.acquireConnection();
      try {
        const res = await conn.query(text, values);
        return res.rows as T[];
      } finally {
        await client.releaseConnection(conn);
      }
    },
    async ping(timeoutMs = 2000) {
      if (closed) throw new Error('database is closed');
      await withDeadline(knex.raw('select 1'), timeoutMs, 'database ping');
    },
    async close() {
      if (closed) return;
      closed = true;
      await knex.destroy();
      if (!pglite.closed) await pglite.close();
      unlock();
    },
  };
}

/**
 * A statement with native $n placeholders inside a transaction, on its own connection (knex
 * would expand an array binding into a list; the drivers bind arrays as arrays).
 */
export async function queryIn<T>(trx: Knex.Transaction, text: string, values: unknown[]): Promise<T[]> {
  const client = trx.client as unknown as {
    acquireConnection(): Promise<{ query(t: string, v: unknown[]): Promise<{ rows: T[] }> }>;
  };
  const conn = await client.acquireConnection(); // a transaction hands out its own connection
  return (await conn.query(text, values)).rows;
}

/** A jsonb column's value, parsed: the drivers hand back either the parsed JSON or its text. */
export function jsonColumn<T = unknown>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** knex-pglite answers `.del()`/`.update()` with a result object where pg gives a count. */
export function affectedRows(result: unknown): number {
  if (typeof result === 'number') return result;
  const r = result as { rowCount?: number; affectedRows?: number };
  return r?.rowCount ?? r?.affectedRows ?? 0;
}
