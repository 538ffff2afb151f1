import type { Knex } from 'knex';
import type { Config } from './config.ts';
import type { Db } from './db.ts';
import type { Ledger } from './ledger/ledger.ts';

/** What services need: configuration, the database and the ledger. Nothing of HTTP. */
export interface Core {
  config: Config;
  db: Db;
  ledger: Ledger;
}

/**
 * Where a read runs: the app's context (routes pass it) or a transaction or handle a service
 * already holds (so a read and the write that depends on it stay in one transaction).
 */
export type Reader = Pick<Core, 'db'> | Knex | Knex.Transaction;

export function sql(from: Reader): Knex {
  return 'db' in from && typeof from !== 'function' ? (from as Pick<Core, 'db'>).db.knex : (from as Knex);
}
