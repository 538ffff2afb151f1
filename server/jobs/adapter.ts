// pg-boss over the app's own knex, on PostgreSQL and on PGlite alike. Neither adapter pg-boss
// ships is safe beside knex-pglite (STACK.md): `fromPglite` sends statements down PGlite's one
// session even while the app holds a transaction on it (they would run INSIDE that transaction
// and roll back with it), and `fromKnex` sends pg-boss's multi-statement blocks through the
// extended protocol, which refuses them. So every statement borrows a connection the way the
// app's own queries do (knex's pool on PostgreSQL, knex's single PGlite connection otherwise,
// waiting its turn behind a running transaction), and blocks without parameters take the
// simple-query path (PGlite's exec, pg's text query). Given a transaction instead of the root
// knex, statements run inside it: a job sent that way exists only if the change it belongs
// to commits.
import type { Knex } from 'knex';
import type { Db as IDatabase } from 'pg-boss';

interface PgliteLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  exec(text: string): Promise<{ rows?: unknown[] }[]>;
}
interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] } | { rows?: unknown[] }[]>;
}

const isPglite = (c: unknown): c is PgliteLike =>
  typeof (c as PgliteLike).exec === 'function' &&
  typeof (c as { waitReady?: unknown }).waitReady !== 'undefined';

export function jobDatabase(k: Knex | Knex.Transaction): IDatabase {
  const client = k.client as unknown as {
    acquireConnection(): Promise<unknown>;
    releaseConnection(c: unknown): Promise<void>;
  };
  const inTransaction = Boolean((k as Knex.Transaction).isTransaction);
  return {
    async executeSql(text: string, values?: unknown[]) {
      const conn = await client.acquireConnection();
      try {
        if (isPglite(conn)) {
          if (values?.length) return await conn.query(text, values);
          try {
            const results = await conn.exec(text);
            return { rows: results.flatMap((r) => r.rows ?? []) };
          } catch (err) {
            // A failed BEGIN ... COMMIT block leaves the one session in an aborted transaction.
            if (!inTransaction) await conn.exec('rollback').catch(() => {});
            throw err;
          }
        }
        const pg = conn as PgClientLike;
        try {
          const res = await pg.query(text, values?.length ? values : undefined);
          return Array.isArray(res)
            ? { rows: res.flatMap((r) => r.rows ?? []) }
            : (res as { rows: unknown[] });
        } catch (err) {
          if (!inTransaction && !values?.length) await pg.query('rollback').catch(() => {});
          throw err;
        }
      } finally {
        await client.releaseConnection(conn);
      }
    },
  };
}
