// Measures the console's CSV import at volume: files of new contacts (a tenth with opt-outs,
// one in fifty suppressed) through the same import job the upload queues (runImportJob over the
// stored upload), into a fresh database beside DATABASE_URL's, dropped afterwards. Beside each
// import, the floor: PostgreSQL's COPY of the same bytes into a bare table with a unique index,
// in the same run. Prints rows/s and the peak RSS of this process while the job ran.
//   DATABASE_URL=postgres://… npm run bench:import   (IMPORT_ROWS=100000,1000000 sets the sizes)
// IMPORT_OPTOUTS=1 follows each import with a second file giving every contact it created one
// opt-out (known contacts: a preference row, the snapshot trigger's write, an event each).
// npm run bench runs it too.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { migrateLatest } from '../db/migrate.ts';
import { loadConfig } from '../server/config.ts';
import type { Core } from '../server/core.ts';
import { createDb } from '../server/db.ts';
import { createImportJob, runImportJob } from '../server/imports/service.ts';
import { createLedger } from '../server/ledger/ledger.ts';
import { coresAllow, postgresCpu, postgresSecondsSince } from './cpu.ts';

export interface ImportMeasure {
  rows: number;
  /** The same number of contacts and their contact.created events written by SQL alone, one backend. */
  schemaRowsPerSecond: number;
  seconds: number;
  rowsPerSecond: number;
  copyRowsPerSecond: number;
  peakRssMb: number;
  /** CPU a row cost, µs: this process (the import job) and PostgreSQL's processes on this machine. */
  cpuPerRow: { node: number; postgres: number };
  imported: number;
  failed: number;
  status: string;
  /** With IMPORT_OPTOUTS: a second file, an opt-out for each contact the first created. */
  optouts?: { rowsPerSecond: number; seconds: number; cpuPerRow: { node: number; postgres: number } };
}

/** The file, 1 MB at a time (never whole in memory). */
function* csvParts(rows: number, tag: string) {
  let part = 'email,name,unsubscribed,suppressed\n';
  for (let i = 0; i < rows; i++) {
    part += `imp${i}.${tag}@bench.example.net,Person ${i},${i % 10 === 0 ? 'newsletter' : ''},${i % 50 === 0 ? 'bounce' : ''}\n`;
    if (part.length >= 1024 * 1024) {
      yield Buffer.from(part);
      part = '';
    }
  }
  if (part) yield Buffer.from(part);
}

/** A follow-up file of prior opt-outs for the contacts csvParts(rows, tag) created: one topic each. */
function* optoutParts(rows: number, tag: string) {
  let part = 'email,unsubscribed\n';
  for (let i = 0; i < rows; i++) {
    part += `imp${i}.${tag}@bench.example.net,offers\n`;
    if (part.length >= 1024 * 1024) {
      yield Buffer.from(part);
      part = '';
    }
  }
  if (part) yield Buffer.from(part);
}

async function copyFloor(url: string, rows: number): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('drop table if exists bench_copy_floor');
    await c.query(
      'create table bench_copy_floor (email text not null, name text, unsubscribed text, suppressed text)',
    );
    await c.query('create unique index on bench_copy_floor (lower(email))');
    const t0 = process.hrtime.bigint();
    await pipeline(
      Readable.from(csvParts(rows, 'floor')),
      c.query(copyFrom('copy bench_copy_floor from stdin with (format csv, header true)')),
    );
    return rows / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    await c.query('drop table if exists bench_copy_floor').catch(() => {});
    await c.end();
  }
}

/**
 * The schema's own floor: N contacts and their creation events (feed positions included)
 * generated inside PostgreSQL in one statement and one backend, no client work at all, rolled
 * back. What each imported row costs the database in index and trigger work, before the
 * import does anything of its own. `without`: statements run first in the same transaction
 * (bench/schema.ts drops indexes or triggers with them to price each one).
 */
export async function schemaFloor(url: string, rows: number, without: string[] = []): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('begin');
    // bench:schema's variants drop an index or trigger here first (rolled back with the rows)
    for (const ddl of without) await c.query(ddl);
    const t0 = process.hrtime.bigint();
    await c.query(
      `with c as (
         insert into contacts (email, email_key, email_hash, name, optouts)
         select 'f' || g || '@floor.example.net', 'f' || g || '@floor.example.net', md5(g::text) || md5(g::text),
                'Person ' || g, case when g % 10 = 0 then '{email:newsletter}'::text[] else '{}' end
           from generate_series(1, $1::int) g
         returning id)
       insert into events (id, occurred_at, chain, contact_id, type, data, actor, hash)
       select nextval('events_id_seq'), now(), 'contact:' || id, id, 'contact.created', '{"fields":["name"]}',
              'import:floor', md5(id::text) || md5(id::text)
         from c`,
      [rows],
    );
    await c.query('set constraints all immediate'); // the feed's positions, as at commit
    return rows / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    await c.query('rollback').catch(() => {});
    await c.end();
  }
}

/** An empty database of its own beside `baseUrl`'s, for a bench that writes; `drop()` removes it. */
export async function scratchDatabase(baseUrl: string, prefix: string) {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/** A scratch database (as `scratchDatabase`) with the schema migrated in, for the schema benches. */
export async function migratedScratchDatabase(baseUrl: string, prefix: string) {
  const scratch = await scratchDatabase(baseUrl, prefix);
  try {
    const db = await createDb({ databaseUrl: scratch.url });
    await migrateLatest(db.knex, { hashSecret: Buffer.from('bench-schema-secret-bench-schema-secret') });
    await db.close();
    return scratch;
  } catch (err) {
    await scratch.drop();
    throw err;
  }
}

export async function benchImport(baseUrl: string, sizes: number[]): Promise<ImportMeasure[]> {
  const scratch = await scratchDatabase(baseUrl, 'pc_bench_import');
  const url = scratch.url;
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: url,
    TOKEN_SECRET: `b1:${'bench'.repeat(8)}`,
    HASH_SECRET: process.env.HASH_SECRET ?? 'bench-hash-secret-bench-hash-secret-0000',
    BASE_URL: 'https://prefs.example.com',
  });
  const db = await createDb({ databaseUrl: url });
  const out: ImportMeasure[] = [];
  try {
    await migrateLatest(db.knex, { hashSecret: config.hashSecret });
    const core = { config, db, ledger: createLedger(config.hashSecret) };
    for (const rows of sizes) {
      const copyRowsPerSecond = await copyFloor(url, rows);
      const schemaRowsPerSecond = await schemaFloor(url, rows);
      const tag = randomBytes(3).toString('hex');
      const run = await timedImport(core, 'bench.csv', csvParts(rows, tag));
      const optouts = process.env.IMPORT_OPTOUTS ? await importOptouts(core, rows, tag) : undefined;
      out.push({
        optouts,
        rows,
        seconds: run.seconds,
        rowsPerSecond: Number(run.done.processed_rows) / run.seconds,
        copyRowsPerSecond,
        schemaRowsPerSecond,
        peakRssMb: run.peakRss / 1024 / 1024,
        cpuPerRow: cpuOf(run, rows),
        imported: Number(run.done.imported_rows),
        failed: Number(run.done.failed_rows),
        status: run.done.status,
      });
    }
  } finally {
    await db.close();
    await scratch.drop();
  }
  return out;
}

/** Stores a file as an upload and runs its import job: time, CPU (this process and PostgreSQL's), peak RSS. */
async function timedImport(core: Core, filename: string, parts: Iterable<Buffer>) {
  const job = await createImportJob(core.db.knex, {
    createdBy: null,
    accountId: null,
    defaultAccount: null,
    filename,
  });
  for (const part of parts) await job.append(part);
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const pg0 = postgresCpu();
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await runImportJob(core, job.id);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const own = process.cpuUsage(own0);
  const postgresSeconds = postgresSecondsSince(pg0);
  clearInterval(sampler);
  const done = await core.db.knex('import_jobs').where({ id: job.id }).first();
  return { seconds, own, postgresSeconds, peakRss, done };
}

const cpuOf = (run: Awaited<ReturnType<typeof timedImport>>, rows: number) => ({
  node: (run.own.user + run.own.system) / rows,
  postgres: (run.postgresSeconds * 1e6) / rows,
});

/** Imports optoutParts(rows, tag): known contacts, each given one opt-out (a preference row and its event). */
async function importOptouts(core: Core, rows: number, tag: string) {
  const run = await timedImport(core, 'optouts.csv', optoutParts(rows, tag));
  if (run.done.status !== 'done' || Number(run.done.imported_rows) !== rows)
    throw new Error(`the opt-out file: ${run.done.status}, ${run.done.imported_rows} of ${rows} imported`);
  return { rowsPerSecond: rows / run.seconds, seconds: run.seconds, cpuPerRow: cpuOf(run, rows) };
}

/** What a row cost the machine's CPU, and the rate that allows on all its cores. */
export function cpuPerRow(m: ImportMeasure) {
  const { node, postgres } = m.cpuPerRow;
  return `CPU per row ${node.toFixed(0)} µs in Node + ${postgres.toFixed(0)} µs in PostgreSQL (${coresAllow(node + postgres)} rows/s)`;
}

export function describeImport(m: ImportMeasure) {
  return (
    `${m.rows.toLocaleString()} rows: ${m.status}, ${m.imported.toLocaleString()} imported, ${m.failed} failed in ${m.seconds.toFixed(1)} s ` +
    `(${Math.round(m.rowsPerSecond).toLocaleString()} rows/s; COPY floor ${Math.round(m.copyRowsPerSecond).toLocaleString()} rows/s, ` +
    `${((100 * m.rowsPerSecond) / m.copyRowsPerSecond).toFixed(1)}% of it; the schema's own floor, SQL alone in one backend, ` +
    `${Math.round(m.schemaRowsPerSecond).toLocaleString()} rows/s); peak RSS ${m.peakRssMb.toFixed(0)} MB; ${cpuPerRow(m)}`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('needs DATABASE_URL');
    process.exit(2);
  }
  const sizes = (process.env.IMPORT_ROWS ?? '100000,1000000').split(',').map(Number);
  const measures = await benchImport(url, sizes);
  // npm run bench reads the last line (it runs this in a process of its own, so the RSS is the import's)
  for (const m of measures) {
    console.log(describeImport(m));
    if (m.optouts)
      console.log(
        `  then an opt-out for each of them: ${Math.round(m.optouts.rowsPerSecond).toLocaleString()} rows/s in ${m.optouts.seconds.toFixed(1)} s; ` +
          cpuPerRow({ ...m, cpuPerRow: m.optouts.cpuPerRow }),
      );
  }
  if (process.env.IMPORT_JSON) console.log(JSON.stringify(measures));
}
