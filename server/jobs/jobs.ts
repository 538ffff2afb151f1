// Durable background work (SPEC "Operations"): everything that happens after an answer lives in
// PostgreSQL through pg-boss (SKIP LOCKED fetches, retries with backoff, jobs created inside the
// caller's transaction, a supervisor that retries jobs whose process died), so `kill -9` or a
// deploy never loses it: the next process picks it up.
// - Jobs run in the web process by default, or in `npm run worker` (Procfile `worker`) with
//   JOBS_IN_WEB=false on the web processes.
// - Job data holds ids, never an address, a name or a number: erasure has nothing to chase in
//   pg-boss's tables, and completed jobs are deleted after a day.
// - A database cut makes pg-boss emit 'error' (logged, never thrown): polling resumes when the
//   database answers again.
import type { Knex } from 'knex';
import { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { Core } from '../core.ts';
import { jobDatabase } from './adapter.ts';

export const QUEUES = {
  /** "Email me my link": { contactId, locale }. Leaves within a second or two. */
  preferencesLink: 'mail.preferences-link',
  /** A console import: { importId }. Resumes after a crash where it stopped. */
  importRun: 'import.run',
  /** The confirmation text after a consent: { consentId }. */
  smsConfirmation: 'sms.consent-confirmation',
  /** A data request's mail (its one-time link, or a decline): { requestId, token? }. */
  dataRequestMail: 'mail.data-request',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export type JobHandler = (
  data: Record<string, unknown>,
  job: { id: string; retryCount: number },
) => Promise<void>;

export interface Jobs {
  /** Queues a job; with `trx`, it exists only if that transaction commits. */
  send(
    name: QueueName,
    data: Record<string, unknown>,
    opts?: { trx?: Knex.Transaction; singletonKey?: string },
  ): Promise<string | null>;
  /** Connects pg-boss (without working jobs) if this process has not yet: before a transaction sends. */
  ready(): Promise<void>;
  /** Registers what runs a queue's jobs (before start). */
  handle(name: QueueName, handler: JobHandler): void;
  /** Starts pg-boss (schema, supervisor) and, when `work`, the workers. */
  start(opts?: { work?: boolean }): Promise<void>;
  stop(): Promise<void>;
  /** Seconds the oldest waiting job has waited, per queue (loss-path metric). */
  queueAges(): Promise<Record<string, number>>;
}

interface QueueSettings {
  retryLimit: number;
  retryDelay: number;
  expireInSeconds: number;
  heartbeatSeconds?: number;
  pollingIntervalSeconds: number;
  localConcurrency: number;
}

const SETTINGS: Record<QueueName, QueueSettings> = {
  [QUEUES.preferencesLink]: {
    retryLimit: 8,
    retryDelay: 5,
    expireInSeconds: 120,
    pollingIntervalSeconds: 0.5,
    localConcurrency: 2,
  },
  [QUEUES.dataRequestMail]: {
    retryLimit: 8,
    retryDelay: 5,
    expireInSeconds: 120,
    pollingIntervalSeconds: 0.5,
    localConcurrency: 2,
  },
  [QUEUES.smsConfirmation]: {
    retryLimit: 8,
    retryDelay: 10,
    expireInSeconds: 120,
    pollingIntervalSeconds: 1,
    localConcurrency: 2,
  },
  [QUEUES.importRun]: {
    retryLimit: 20,
    retryDelay: 5,
    expireInSeconds: 6 * 60 * 60,
    // a process that dies mid-import stops its heartbeat: the import is retried (and resumes)
    // within about 10 s instead of waiting out the expiry
    heartbeatSeconds: 10,
    pollingIntervalSeconds: 2,
    localConcurrency: 1,
  },
};

export function createJobs(core: Core, logger: Logger): Jobs {
  const handlers = new Map<QueueName, JobHandler>();
  const workerIds = new Map<QueueName, string>();
  let boss: PgBoss | null = null;
  let starting: Promise<void> | null = null;

  const make = () => {
    const b = new PgBoss({
      db: jobDatabase(core.db.knex),
      backend: core.db.kind === 'pglite' ? 'pglite' : 'postgres',
      schema: 'pgboss',
      schedule: false,
      superviseIntervalSeconds: 10,
      monitorIntervalSeconds: 10,
    });
    b.on('error', (err: unknown) => logger.error({ err }, 'background jobs: database error (will retry)'));
    b.on('warning', (w: unknown) => logger.warn({ warning: w }, 'background jobs warning'));
    return b;
  };

  return {
    async send(name, data, opts = {}) {
      // Queuing needs pg-boss connected, not working: a process that only queues connects on
      // first use. Never from inside a transaction: on PGlite, connecting needs the one
      // connection the transaction holds (call ready() before opening it).
      if (!boss && opts.trx)
        throw new Error('background jobs: call ready() before sending inside a transaction');
      if (!boss) await this.start();
      if (!boss) throw new Error('background jobs could not start');
      const id = await boss.send(name, data, {
        ...(opts.singletonKey ? { singletonKey: opts.singletonKey } : {}),
        ...(opts.trx ? { db: jobDatabase(opts.trx) } : {}),
      });
      // Wake this process's worker now instead of at its next poll (a job sent in a
      // transaction is visible once that commits; the worker simply polls again if not yet).
      const worker = workerIds.get(name);
      if (worker) {
        const wake = () => boss?.notifyWorker(worker);
        if (opts.trx) opts.trx.executionPromise.then(wake, () => {});
        else setImmediate(wake);
      }
      return id;
    },
    ready() {
      return starting ?? this.start();
    },
    handle(name, handler) {
      handlers.set(name, handler);
    },
    start(opts = {}) {
      starting ??= (async () => {
        boss = make();
        await boss.start();
        for (const [name, s] of Object.entries(SETTINGS) as [QueueName, QueueSettings][]) {
          await boss.createQueue(name, {
            retryLimit: s.retryLimit,
            retryDelay: s.retryDelay,
            retryBackoff: true,
            expireInSeconds: s.expireInSeconds,
            ...(s.heartbeatSeconds ? { heartbeatSeconds: s.heartbeatSeconds } : {}),
            deleteAfterSeconds: 24 * 60 * 60,
          });
        }
        if (!opts.work) return;
        for (const [name, handler] of handlers) {
          const s = SETTINGS[name];
          const id = await boss.work<Record<string, unknown>>(
            name,
            { pollingIntervalSeconds: s.pollingIntervalSeconds, localConcurrency: s.localConcurrency },
            async (jobs) => {
              for (const job of jobs) await handler(job.data, { id: job.id, retryCount: job.retryCount });
            },
          );
          workerIds.set(name, id);
        }
      })();
      return starting;
    },
    async stop() {
      await starting?.catch(() => {});
      // Jobs in progress finish (up to 20 s) or go back to the queue for the next process.
      await boss?.stop({ graceful: true, timeout: 20_000 }).catch(() => {});
      boss = null;
      starting = null;
      workerIds.clear();
    },
    async queueAges() {
      const rows: { name: string; age: number | null }[] = await core.db.knex
        .raw(
          `select name, extract(epoch from now() - min(created_on))::float8 as age
           from pgboss.job where state in ('created', 'retry') group by name`,
        )
        .then((r: { rows: { name: string; age: number | null }[] }) => r.rows);
      return Object.fromEntries(rows.map((r) => [r.name, Number(r.age ?? 0)]));
    },
  };
}
