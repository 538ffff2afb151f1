// Shared start-up for the server and the CLI: configuration, database, migrations.
import path from 'node:path';
import { migrateLatest } from '../db/migrate.ts';
import { type Config, devSecretsIn, loadConfig } from './config.ts';
import { createDb, type Db } from './db.ts';

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.DATA_DIR || 'data');
  return loadConfig(env, { dataDir, devSecrets: devSecretsIn(dataDir) });
}

export async function openDatabase(config: Config, migrate: boolean): Promise<{ db: Db; applied: string[] }> {
  const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = migrate ? await migrateLatest(db.knex, { hashSecret: config.hashSecret }) : [];
    return { db, applied };
  } catch (err) {
    await db.close();
    throw err;
  }
}
