// `npm run worker` (Procfile `worker`): runs the background jobs only, for deployments that
// scale them apart from the web processes (set JOBS_IN_WEB=false on those). Migrations are the
// release phase's job, as for web. SIGTERM: jobs in progress finish or go back to the queue.
import { createApp, createLogger } from './app.ts';
import { openDatabase, readConfig } from './boot.ts';
import { ConfigError } from './config.ts';
import { warnWithoutMemoryFlags } from './memory-flags.ts';

async function main() {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  warnWithoutMemoryFlags(config.env, logger, 'worker');
  const { db } = await openDatabase(config, false);
  const { jobs, webhooks } = createApp({ config, db, logger }).locals.ctx;
  await jobs.start({ work: true });
  webhooks.start();
  logger.info('worker running background jobs');
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker stopping: finishing jobs in progress');
    await webhooks.stop();
    await jobs.stop();
    await db.close();
    logger.info('worker stopped cleanly');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(
    err instanceof ConfigError ? `${err.message}\n` : `Could not start: ${(err as Error).stack ?? err}\n`,
  );
  process.exit(1);
});
