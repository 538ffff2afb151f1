// Measures the console's CSV import at volume: 100,000 rows through the same import job the
// upload queues (runImportJob over the stored upload), against DATABASE_URL. Prints rows/s and the peak RSS of this process.
//   DATABASE_URL=postgres://… npm run bench:import   (IMPORT_ROWS to change the size)
import { randomBytes } from 'node:crypto';
import { migrateLatest } from '../db/migrate.ts';
import { createImportJob, runImportJob } from '../server/admin/import.ts';
import { loadConfig } from '../server/config.ts';
import { createDb } from '../server/db.ts';
import { createLedger } from '../server/ledger/ledger.ts';

const ROWS = Number(process.env.IMPORT_ROWS ?? 100_000);
const url = process.env.DATABASE_URL;
if (!url) {
  console.error('needs DATABASE_URL');
  process.exit(2);
}
const config = loadConfig({
  NODE_ENV: 'test',
  DATABASE_URL: url,
  TOKEN_SECRET: `b1:${'bench'.repeat(8)}`,
  HASH_SECRET: process.env.HASH_SECRET ?? 'bench-hash-secret-bench-hash-secret-0000',
  BASE_URL: 'https://prefs.example.com',
});
const db = await createDb({ databaseUrl: url });
await migrateLatest(db.knex, { hashSecret: config.hashSecret });
const core = { config, db, ledger: createLedger(config.hashSecret) };

const tag = randomBytes(3).toString('hex');
const lines = ['email,name,unsubscribed,suppressed'];
for (let i = 0; i < ROWS; i++) {
  lines.push(
    `imp${i}.${tag}@bench.example.net,Person ${i},${i % 7 === 0 ? 'newsletter;offers' : ''},${i % 50 === 0 ? 'bounce' : ''}`,
  );
}
const csv = Buffer.from(`${lines.join('\n')}\n`);
const job = await createImportJob(db.knex, {
  createdBy: null,
  accountId: null,
  defaultAccount: null,
  filename: 'bench.csv',
});
for (let at = 0; at < csv.length; at += 1024 * 1024) await job.append(csv.subarray(at, at + 1024 * 1024));
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 100);
const t0 = Date.now();
const cpu0 = process.cpuUsage();
await runImportJob(core, job.id);
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
const s = (Date.now() - t0) / 1000;
const done = await db.knex('import_jobs').where({ id: job.id }).first();
console.log(
  `${done.status}: ${done.imported_rows} imported, ${done.failed_rows} failed of ${done.processed_rows} rows in ${s.toFixed(1)} s ` +
    `(${Math.round(done.processed_rows / s)} rows/s); peak RSS ${(peak / 1024 / 1024).toFixed(0)} MB; ` +
    `this process's CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`,
);
await db.close();
