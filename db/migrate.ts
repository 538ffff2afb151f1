// Migrations are TypeScript modules in db/migrations, loaded by a custom source: the sources run
// under Node's own type stripping (development, CI, tests, the CLI's release phase) and their
// compiled copies in dist/db/migrations when the server migrates on start (npm start). Names are
// stored without the extension, so both agree on what has run.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  up(knex: Knex): Promise<void>;
  down?(knex: Knex): Promise<void>;
}

const source: Knex.MigrationSource<string> = {
  async getMigrations() {
    return readdirSync(dir)
      .filter((f) => /^\d{14}_[a-z0-9_]+\.[jt]s$/.test(f))
      .sort();
  },
  // Stored in knex_migrations without the extension, so a compiled (.js) build and the .ts
  // sources agree on what has run.
  getMigrationName(name) {
    return name.replace(/\.[jt]s$/, '');
  },
  async getMigration(name) {
    const mod = (await import(pathToFileURL(path.join(dir, name)).href)) as Migration;
    return { up: mod.up, down: mod.down ?? (async () => {}) };
  },
};

/**
 * Applies every pending migration. Data migrations that re-key addresses need HASH_SECRET; they
 * read it from knex's userParams (an empty database never needs it).
 */
export async function migrateLatest(knex: Knex, params: { hashSecret?: Buffer } = {}): Promise<string[]> {
  // Databases made before names lost their extension (development data only) are renamed once.
  if (await knex.schema.hasTable('knex_migrations')) {
    await knex('knex_migrations')
      .whereRaw("name ~ '\\.(ts|js)$'")
      .update({ name: knex.raw("regexp_replace(name, '\\.(ts|js)$', '')") });
  }
  const withParams = params.hashSecret ? knex.withUserParams({ hashSecret: params.hashSecret }) : knex;
  const [, applied] = (await withParams.migrate.latest({ migrationSource: source })) as [number, string[]];
  return applied;
}

/** Applies pending migrations up to and including `name` (tests of a data migration). */
export async function migrateTo(knex: Knex, name: string, params: { hashSecret?: Buffer } = {}) {
  const withParams = params.hashSecret ? knex.withUserParams({ hashSecret: params.hashSecret }) : knex;
  for (;;) {
    const [done, pending] = (await withParams.migrate.list({ migrationSource: source })) as [
      { name: string }[],
      string[],
    ];
    if (done.some((d) => (typeof d === 'string' ? d : d.name) === name) || !pending.length) return;
    await withParams.migrate.up({ migrationSource: source });
  }
}

/** Runs statements one by one: PGlite's extended protocol refuses several in one string. */
export async function runStatements(knex: Knex, statements: string[]) {
  for (const sql of statements) await knex.raw(sql);
}
