// The dashboard part's SQL: rolling the ledger up into weekly counts (dashboard_weekly, see its
// migration for why that stays exact), the tally of delivered marketing mail, and the reads.
import type { Knex } from 'knex';
import type { Count } from './rules.ts';

type Q = Knex | Knex.Transaction;

export const NO_ACCOUNT = '00000000-0000-0000-0000-000000000000';

/**
 * What each ledger event counts as, one row per counted event: the week (Monday, UTC), the
 * contact's account, and the metric with its channel, topic and reason. `where` picks the events.
 * Every metric is one event kind, so an event is counted at most once here.
 */
function factsOf(where: string) {
  return `
    select date_trunc('week', e.occurred_at at time zone 'UTC')::date as week,
           coalesce(c.account_id, '${NO_ACCOUNT}'::uuid) as account_id,
           case
             when e.type = 'preference.changed' and e.new_value = 'unsubscribed' then 'opt_out'
             when e.type = 'preference.changed' and e.new_value = 'subscribed' and e.old_value = 'paused' then 'pause_ended'
             when e.type = 'preference.changed' and e.new_value = 'paused' then 'pause_started'
             when e.type = 'preference.feedback' then 'reason'
             when e.type = 'consent.granted' then 'consent_granted'
             when e.type = 'consent.revoked' then 'consent_revoked'
             when e.type = 'suppression.added' then 'suppression'
           end as metric,
           coalesce(e.channel, '') as channel,
           case when e.type = 'preference.changed' or e.type = 'preference.feedback'
                then coalesce(e.topic, '') else '' end as topic,
           case when e.type in ('preference.feedback', 'suppression.added')
                then coalesce(e.new_value, '') else '' end as reason
      from event_feed f
      join events e on e.id = f.event_id
      left join contacts c on c.id = e.contact_id
     where ${where}
       and e.type in ('preference.changed', 'preference.feedback', 'consent.granted', 'consent.revoked', 'suppression.added')`;
}

/** Locks the roll-up's cursor for this transaction (one roll-up at a time) and reads it. */
export async function lockCursor(trx: Knex.Transaction): Promise<number> {
  const { rows } = await trx.raw('select seq from dashboard_cursor for update');
  return Number(rows[0].seq);
}

export async function cursor(q: Q): Promise<{ seq: number; rolledAt: Date }> {
  const { rows } = await q.raw('select seq, rolled_at from dashboard_cursor');
  return { seq: Number(rows[0].seq), rolledAt: new Date(rows[0].rolled_at) };
}

/** The feed position `limit` events past `from` (or the last one), and how many that is. */
export async function batchEnd(q: Q, from: number, limit: number): Promise<{ upto: number; n: number }> {
  const { rows } = await q.raw(
    `select max(seq) as upto, count(*)::int as n
       from (select seq from event_feed where seq > ? order by seq limit ?) s`,
    [from, limit],
  );
  return { upto: rows[0].upto === null ? from : Number(rows[0].upto), n: rows[0].n };
}

/** Adds the events at feed positions (from, upto] to the weekly counts and moves the cursor. */
export async function rollUpRange(trx: Knex.Transaction, from: number, upto: number) {
  await trx.raw(
    `insert into dashboard_weekly (week, account_id, metric, channel, topic, reason, n)
     select week, account_id, metric, channel, topic, reason, count(*)
       from (${factsOf('f.seq > ? and f.seq <= ?')}) facts
      where metric is not null
      group by 1, 2, 3, 4, 5, 6
     on conflict (week, account_id, metric, channel, topic, reason)
     do update set n = dashboard_weekly.n + excluded.n`,
    [from, upto],
  );
  await trx.raw('update dashboard_cursor set seq = ?, rolled_at = now()', [upto]);
}

/** One more delivered marketing message this week, in the provider event's own transaction. */
export function tallyDelivered(trx: Knex.Transaction, week: string, accountId: string | null, topic: string) {
  return trx.raw(
    `insert into dashboard_weekly (week, account_id, metric, channel, topic, reason, n)
     values (?, ?, 'delivered', 'email', ?, '', 1)
     on conflict (week, account_id, metric, channel, topic, reason)
     do update set n = dashboard_weekly.n + 1`,
    [week, accountId ?? NO_ACCOUNT, topic],
  );
}

/** A weekly count as the reads return it (the rules' Count). */
export type WeeklyRow = Count;

/**
 * Weekly counts since `since` (a Monday): the rolled-up rows plus the events past the cursor,
 * read in one snapshot (the caller's repeatable-read transaction), so an event is counted in
 * one or the other, never both. `tailLimit` bounds the live part; `tail` says how many it read.
 */
export async function weeklyCounts(
  trx: Knex.Transaction,
  since: string,
  accountId: string | null,
  tailLimit: number,
): Promise<{ rows: WeeklyRow[]; tail: number; tailCapped: boolean }> {
  const from = await cursor(trx);
  const end = await batchEnd(trx, from.seq, tailLimit);
  const scope = accountId ? 'and account_id = ?' : '';
  const scopeArgs = accountId ? [accountId] : [];
  const { rows } = await trx.raw(
    `select to_char(week, 'YYYY-MM-DD') as week, metric, channel, topic, reason, sum(n)::bigint as n from (
       select week, account_id, metric, channel, topic, reason, n
         from dashboard_weekly where week >= ? ${scope}
       union all
       select week, account_id, metric, channel, topic, reason, 1
         from (${factsOf('f.seq > ? and f.seq <= ?')}) facts
        where metric is not null and week >= ? ${scope}
     ) all_rows
     group by week, metric, channel, topic, reason
     order by week`,
    [since, ...scopeArgs, from.seq, end.upto, since, ...scopeArgs],
  );
  const more = await batchEnd(trx, end.upto, 1);
  return {
    rows: (rows as WeeklyRow[]).map((r) => ({ ...r, n: Number(r.n) })),
    tail: end.n,
    tailCapped: more.n > 0,
  };
}

/** The health panel's reads: imports, the outbox, the feed. Each is one small indexed query. */
export async function importHealth(q: Q, since: Date, accountId: string | null) {
  const { rows } = await q.raw(
    `select status, count(*)::int as n, min(created_at) as oldest
       from import_jobs where (created_at >= ? or status in ('pending', 'running')) ${accountId ? 'and account_id = ?' : ''}
      group by status`,
    accountId ? [since, accountId] : [since],
  );
  return rows as { status: string; n: number; oldest: Date }[];
}

export async function outboxHealth(q: Q, since: Date) {
  const { rows } = await q.raw(
    `select (select count(*)::int from messages where status = 'pending') as pending,
            (select min(created_at) from messages where status = 'pending') as oldest_pending,
            (select count(*)::int from messages where created_at >= ? and status = 'failed') as failed`,
    [since],
  );
  return rows[0] as { pending: number; oldest_pending: Date | null; failed: number };
}

export async function feedHead(q: Q) {
  const { rows } = await q.raw(
    `select f.seq, e.occurred_at from event_feed f join events e on e.id = f.event_id
      order by f.seq desc limit 1`,
  );
  return rows[0] ? { seq: Number(rows[0].seq), at: new Date(rows[0].occurred_at) } : null;
}
