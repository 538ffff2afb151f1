// The data requests part's SQL.
import type { Knex } from 'knex';

type Q = Knex | Knex.Transaction;

export interface DataRequestRow {
  id: string;
  contact_id: string | null;
  account_id: string | null;
  kind: 'export' | 'deletion';
  status: 'awaiting_confirmation' | 'ready' | 'pending' | 'approved' | 'declined';
  token_hash: string;
  locale: string | null;
  expires_at: Date;
  confirmed_at: Date | null;
  due_at: Date | null;
  decided_at: Date | null;
  decided_by: string | null;
  reason: string | null;
  created_at: Date;
}

export async function insertRequest(trx: Knex.Transaction, row: Partial<DataRequestRow>) {
  const [inserted] = await trx('data_requests').insert(row).returning('*');
  return inserted as DataRequestRow;
}

export function requestByTokenHash(q: Q, tokenHash: string): Promise<DataRequestRow | undefined> {
  return q('data_requests').where({ token_hash: tokenHash }).first();
}

export function requestById(q: Q, id: string, opts: { forUpdate?: boolean } = {}) {
  const query = q<DataRequestRow>('data_requests').where({ id });
  return (opts.forUpdate ? query.forUpdate().first() : query.first()) as Promise<DataRequestRow | undefined>;
}

export async function updateRequest(trx: Knex.Transaction, id: string, fields: Partial<DataRequestRow>) {
  const [row] = await trx('data_requests').where({ id }).update(fields).returning('*');
  return row as DataRequestRow;
}

/** Deletion requests for the console, oldest due first; a customer administrator's account only. */
export function deletionQueue(q: Q, accountId: string | null) {
  const query = q('data_requests as r')
    .leftJoin('contacts as c', 'c.id', 'r.contact_id')
    .leftJoin('accounts as a', 'a.id', 'r.account_id')
    .where('r.kind', 'deletion')
    .whereIn('r.status', ['pending', 'approved', 'declined'])
    .orderByRaw("(r.status = 'pending') desc, r.due_at asc, r.created_at desc")
    .limit(200)
    .select('r.*', 'c.email', 'c.name', 'a.external_id as account');
  if (accountId) query.where('r.account_id', accountId);
  return query;
}

export async function overdueCount(q: Q, now: Date, accountId: string | null) {
  const query = q('data_requests').where({ kind: 'deletion', status: 'pending' }).where('due_at', '<', now);
  if (accountId) query.where({ account_id: accountId });
  const [row] = await query.count({ n: '*' });
  return Number(row.n);
}
