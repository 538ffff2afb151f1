// The console's read models: contacts as a staff member may see them (tenancy is in the SQL:
// a customer_admin's queries are filtered by their account, never loaded first and checked after)
// and accounts with their counts.
import type { Knex } from 'knex';
import { canonicalEmail, parsePhone } from '../contacts/service.ts';
import { type Reader, sql } from '../core.ts';
import { isUuid } from '../ids.ts';
import type { StaffSession } from './sessions.ts';

export type Staff = Pick<StaffSession, 'userId' | 'role' | 'accountId'>;

export const PAGE_SIZE = 50;

/** Limits a query on `contacts as c` to what this staff member may see. */
export function scoped<T extends Knex.QueryBuilder>(q: T, staff: Staff): T {
  if (staff.role === 'customer_admin') q.where('c.account_id', staff.accountId as string);
  return q;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (m) => `\\${m}`);

export async function searchContacts(
  from: Reader,
  staff: Staff,
  input: { q?: string; account?: string; page?: number },
  region: string,
) {
  const knex = sql(from);
  const q = scoped(
    knex('contacts as c').leftJoin('accounts as a', 'a.id', 'c.account_id').whereNull('c.erased_at'),
    staff,
  );
  const term = input.q?.trim() ?? '';
  if (term) {
    const phone = /^[+\d][\d\s().-]{5,}$/.test(term) ? parsePhone(term, region) : null;
    if (phone?.ok) q.where('c.phone', phone.e164);
    else if (term.includes('@')) q.whereLike('c.email_key', `${escapeLike(canonicalEmail(term))}%`);
    else
      q.where((w) =>
        w
          .whereRaw('c.name ilike ?', [`%${escapeLike(term)}%`])
          .orWhereLike('c.email_key', `${escapeLike(canonicalEmail(term))}%`),
      );
  }
  if (input.account) q.where('a.external_id', input.account);
  const page = Math.max(1, Math.min(input.page ?? 1, 10_000));
  const rows = await q
    .clone()
    .orderBy('c.email')
    .limit(PAGE_SIZE + 1)
    .offset((page - 1) * PAGE_SIZE)
    .select(
      'c.id',
      'c.email',
      'c.name',
      'c.phone',
      'a.external_id as account',
      'a.agreement_status as agreement',
    );
  return { rows: rows.slice(0, PAGE_SIZE), page, more: rows.length > PAGE_SIZE };
}

/** One contact this staff member may see, or undefined (the page answers 404). */
export async function contactForStaff(knex: Knex | Knex.Transaction, staff: Staff, id: string) {
  if (!isUuid(id)) return undefined;
  return scoped(
    knex('contacts as c')
      .leftJoin('accounts as a', 'a.id', 'c.account_id')
      .where('c.id', id)
      .whereNull('c.erased_at'),
    staff,
  ).first(
    'c.*',
    'a.external_id as account_external_id',
    'a.name as account_name',
    'a.agreement_status as agreement',
  );
}

export function listAccounts(from: Reader) {
  const knex = sql(from);
  return knex('accounts as a')
    .leftJoin('contacts as c', (j) => j.on('c.account_id', 'a.id').andOnNull('c.erased_at'))
    .groupBy('a.id')
    .orderBy('a.external_id')
    .select('a.*', knex.raw('count(c.id)::int as contacts'));
}
