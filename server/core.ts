import type { Config } from './config.ts';
import type { Db } from './db.ts';
import type { Ledger } from './ledger/ledger.ts';

/** What services need: configuration, the database and the ledger. Nothing of HTTP. */
export interface Core {
  config: Config;
  db: Db;
  ledger: Ledger;
}
