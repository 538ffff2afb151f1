// The dashboard's figures (SPEC "Pages" /admin): weekly counts rolled up from the ledger (see
// the dashboard migration for why they stay exact), the delivered-mail tally the complaint rate
// needs, and the health reads. The console page (admin/dashboard-pages.ts) draws them.
import type { Knex } from 'knex';
import type { Core, Reader } from '../core.ts';
import { sql } from '../core.ts';
import {
  batchEnd,
  cursor,
  feedHead,
  importHealth,
  lockCursor,
  outboxHealth,
  rollUpRange,
  tallyDelivered,
  type WeeklyRow,
  weeklyCounts,
} from './queries.ts';
import { lastWeeks, WEEKS, weekOf } from './rules.ts';

const BATCH = 50_000;
/** Events past the cursor the dashboard adds live; beyond that it says its figures lag. */
const TAIL_LIMIT = 100_000;

/**
 * Adds every event committed since the last roll-up to the weekly counts, in batches of
 * 50,000 feed positions, each batch and its cursor in one transaction. Two roll-ups never
 * overlap (the cursor row is locked). Answers how many events it read.
 */
export async function rollUpLedger(from: Reader, maxBatches = Number.POSITIVE_INFINITY): Promise<number> {
  const knex = sql(from);
  let read = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await knex.transaction(async (trx) => {
      const at = await lockCursor(trx);
      const end = await batchEnd(trx, at, BATCH);
      if (end.n > 0) await rollUpRange(trx, at, end.upto);
      return end.n;
    });
    read += n;
    if (n < BATCH) break;
  }
  return read;
}

/** One delivered marketing message, counted in the provider event's transaction (once: the
 *  caller counts only a message's first step into delivered). */
export function countDelivered(trx: Knex.Transaction, at: Date, accountId: string | null, topic: string) {
  return tallyDelivered(trx, weekOf(at), accountId, topic);
}

export interface Figures {
  weeks: string[];
  counts: WeeklyRow[];
  /** Events past the roll-up that were added live, and whether there were more than read. */
  live: number;
  lagging: boolean;
  rolledAt: Date;
}

/** The last 12 weeks' counts, for one account (a customer administrator) or all. */
export async function dashboardFigures(core: Core, accountId: string | null, now: Date): Promise<Figures> {
  const weeks = lastWeeks(now, WEEKS);
  // One snapshot for the rolled-up rows and the live tail: a roll-up committing in between
  // would otherwise count its events twice.
  return core.db.knex.transaction(
    async (trx) => {
      const { rows, tail, tailCapped } = await weeklyCounts(trx, weeks[0], accountId, TAIL_LIMIT);
      const { rolledAt } = await cursor(trx);
      return { weeks, counts: rows, live: tail, lagging: tailCapped, rolledAt };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}

export async function dashboardHealth(core: Core, accountId: string | null, now: Date) {
  const day = new Date(now.getTime() - 24 * 3600_000);
  const knex = core.db.knex;
  const [imports, outbox, head, rolled] = await Promise.all([
    importHealth(knex, day, accountId),
    accountId ? Promise.resolve(null) : outboxHealth(knex, day),
    accountId ? Promise.resolve(null) : feedHead(knex),
    cursor(knex),
  ]);
  return { imports, outbox, head, rolled };
}
