// Process entry: config → database → migrate → listen; graceful shutdown on SIGTERM/SIGINT.
import type { Server } from 'node:http';
import { seedDemo } from '../db/seeds/demo.ts';
import { firstOwnerLink } from './admin/staff.ts';
import { createApp, createLogger } from './app.ts';
import { openDatabase, readConfig } from './boot.ts';
import { currentBrand } from './brand/service.ts';
import { ConfigError } from './config.ts';
import { syncDisclosures } from './consent/service.ts';
import { rollUpLedger } from './dashboard/service.ts';
import { DatabaseLockedError } from './db.ts';
import { pruneCheckedUploads } from './imports/service.ts';
import { settleStalePending } from './mail/service.ts';
import { warnWithoutMemoryFlags } from './memory-flags.ts';
import { endDuePauses } from './preferences/service.ts';
import { pruneDeliveries } from './webhooks/service.ts';

const started = process.hrtime.bigint();
const ms = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6);

async function main() {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  warnWithoutMemoryFlags(config.env, logger);
  const { db, applied } = await openDatabase(config, config.migrateOnStart);
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  const app = createApp({ config, db, logger });
  if (db.kind === 'pglite') {
    const demo = await seedDemo(app.locals.ctx);
    if (demo) process.stdout.write(demo);
  }
  // No console user yet (a new database): a one-time link that creates the first owner, so the
  // console is reachable without stopping the server to run the CLI. Printed at each start
  // until an owner exists; each link works once, for 24 hours.
  const firstOwner = await firstOwnerLink(app.locals.ctx, new Date());
  if (firstOwner)
    process.stdout.write(
      `\nConsole: no user yet. Create the first owner (one-time link, 24 h):\n  ${config.baseUrl}/admin/welcome/${firstOwner}\n\n`,
    );
  // The consent disclosures name the brand: a first start (or BRAND_NAME changed) publishes them
  // as new versions; earlier versions stay as evidence.
  const published = await syncDisclosures(app.locals.ctx, (await currentBrand(app.locals.ctx)).name);
  if (published) logger.info({ published }, 'consent disclosures published for the brand');

  // Opt-outs spooled while the database was away (by this or an earlier process) are applied
  // now and then every few seconds.
  const { spool, jobs } = app.locals.ctx;
  spool.start(5000);
  // Background jobs: always connected (the web process queues them), worked here unless a
  // separate worker process does it (JOBS_IN_WEB=false).
  await jobs.start({ work: config.jobsInWeb });
  const { webhooks } = app.locals.ctx;
  if (config.jobsInWeb) webhooks.start();
  // Housekeeping: messages a stopped process left pending and no provider event settled are
  // marked (never resent); the webhook delivery log keeps a week.
  const settle = setInterval(() => {
    settleStalePending(db.knex, new Date()).catch((err) =>
      logger.warn({ err }, 'could not settle pending messages'),
    );
    pruneDeliveries(db.knex, new Date()).catch((err) =>
      logger.warn({ err }, 'could not prune the webhook log'),
    );
    pruneCheckedUploads(db.knex, new Date()).catch((err) =>
      logger.warn({ err }, 'could not prune checked imports'),
    );
    // The dashboard's weekly counts take in the ledger's new events (several processes may
    // run this: the roll-up's cursor lock lets one at a time through, each event counted once).
    rollUpLedger(db.knex).catch((err) => logger.warn({ err }, 'could not roll up the dashboard'));
  }, 60_000);
  settle.unref();
  // The dashboard's counts catch up with the ledger at start (a first start after this
  // release rolls up the whole history, in batches), then every minute with the housekeeping.
  rollUpLedger(db.knex).catch((err) => logger.warn({ err }, 'could not roll up the dashboard'));
  // A pause that runs out writes "marketing resumed" on the ledger within 15 s of its end (the
  // check allows from the instant itself).
  const pauses = setInterval(() => {
    endDuePauses(app.locals.ctx, new Date()).catch((err) => logger.warn({ err }, 'could not end pauses'));
  }, 15_000);
  pauses.unref();

  const server: Server = app.listen(config.port);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info(
    { port, database: db.kind, startupMs: ms() },
    `preference center listening on http://localhost:${port} (${db.kind === 'pg' ? 'PostgreSQL' : 'embedded PGlite'})`,
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
    const force = setTimeout(() => {
      logger.warn('requests still running after 25 s; closing them');
      server.closeAllConnections();
    }, 25_000);
    force.unref();
    server.close(async () => {
      clearTimeout(force);
      try {
        clearInterval(settle);
        await webhooks.stop();
        await spool.stop();
        await jobs.stop();
        await db.close();
        logger.info('stopped cleanly');
        process.exit(0);
      } catch (err) {
        logger.error({ err }, 'error while closing the database');
        process.exit(1);
      }
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  if (err instanceof ConfigError || err instanceof DatabaseLockedError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(`Could not start: ${(err as Error).stack ?? err}\n`);
  }
  process.exit(1);
});
