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

/** What the console's status filter can ask for. */
export const STATUS_FILTERS = ['subscribed', 'all_off', 'paused', 'suppressed', 'consent'] as const;
export type StatusFilter = (typeof STATUS_FILTERS)[number];

/** A search term as a support agent types it: which kind of thing it names. */
export function readTerm(term: string, region: string) {
  const t = term.trim();
  if (!t) return { kind: 'none' as const };
  if (/^[\d\s().+\-/]+$/.test(t)) {
    const digits = t.replace(/\D/g, '');
    if (digits.length === 4) return { kind: 'last4' as const, value: digits };
    const phone = digits.length >= 7 ? parsePhone(t, region) : null;
    if (phone?.ok) return { kind: 'phone' as const, value: phone.e164 };
  }
  if (/^@?[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(t) && !t.includes(' '))
    return { kind: 'domain' as const, value: t.replace(/^@/, '').toLowerCase() };
  if (t.includes('@')) return { kind: 'email' as const, value: canonicalEmail(t) };
  return { kind: 'text' as const, value: t };
}

/**
 * Contacts a staff member may see matching a term: any spelling of a phone number, its last four
 * digits, an email address or its start, an email domain, or a name without regard to accents
 * or case. With a status filter and a total (counted up to 10,000: past that, "10,000+").
 */
export async function searchContacts(
  from: Reader,
  staff: Staff,
  input: { q?: string; account?: string; page?: number; status?: StatusFilter | null },
  region: string,
) {
  const knex = sql(from);
  const q = scoped(
    knex('contacts as c').leftJoin('accounts as a', 'a.id', 'c.account_id').whereNull('c.erased_at'),
    staff,
  );
  const term = readTerm(input.q ?? '', region);
  if (term.kind === 'phone') q.where('c.phone', term.value);
  else if (term.kind === 'last4') q.whereRaw('right(c.phone, 4) = ?', [term.value]).whereNotNull('c.phone');
  else if (term.kind === 'domain') q.whereRaw("split_part(c.email_key, '@', 2) = ?", [term.value]);
  else if (term.kind === 'email') q.whereLike('c.email_key', `${escapeLike(term.value)}%`);
  else if (term.kind === 'text') {
    // The name's start ("jose alv"), or every word typed as a whole word of the name ("alvarez",
    // "ana garcia"), without regard to accents or case; both use an index.
    const words = term.value.split(/\s+/).filter(Boolean).slice(0, 8);
    q.where((w) =>
      w
        .whereRaw('pc_fold(c.name) like pc_fold(?)', [`${escapeLike(term.value)}%`])
        .orWhereRaw(
          `string_to_array(pc_fold(c.name), ' ') @> array[${words.map(() => 'pc_fold(?)').join(', ')}]::text[]`,
          words,
        )
        .orWhereLike('c.email_key', `${escapeLike(canonicalEmail(term.value))}%`),
    );
  }
  if (input.account) q.where('a.external_id', input.account);
  const status = input.status;
  if (status === 'all_off') q.whereRaw("'email:*' = any(c.optouts)");
  else if (status === 'subscribed')
    q.whereRaw(
      "not ('email:*' = any(c.optouts)) and not c.suppressed and (c.paused_until is null or c.paused_until <= now())",
    );
  else if (status === 'paused') q.where('c.paused_until', '>', knex.fn.now());
  else if (status === 'suppressed') q.where('c.suppressed', true);
  else if (status === 'consent')
    q.whereExists(knex('consents as k').whereRaw('k.contact_id = c.id').where('k.status', 'granted'));
  const page = Math.max(1, Math.min(input.page ?? 1, 10_000));
  // The total first (counted up to the cap), then the page in the order that suits it: few
  // matches are found by their indexes and sorted; many are met walking the address index in
  // order, which reaches a page's worth long before it would finish a sort (measured: bench/search.ts).
  const [{ n }] = await knex
    .from(
      q
        .clone()
        .clearSelect()
        .select('c.id')
        .limit(TOTAL_CAP + 1)
        .as('found'),
    )
    .count({ n: '*' });
  const rows = await q
    .clone()
    .orderBy(Number(n) > 2000 ? 'c.email_key' : 'c.email')
    .limit(PAGE_SIZE + 1)
    .offset((page - 1) * PAGE_SIZE)
    .select(
      'c.id',
      'c.email',
      'c.name',
      'c.phone',
      'a.external_id as account',
      'a.agreement_status as agreement',
      'c.suppressed',
      knex.raw("('email:*' = any(c.optouts)) as all_off"),
      knex.raw('(c.paused_until > now()) as paused'),
      knex.raw(
        "exists (select 1 from consents k where k.contact_id = c.id and k.status = 'granted') as consent",
      ),
    );
  const total = Number(n);
  return {
    rows: rows.slice(0, PAGE_SIZE),
    page,
    more: rows.length > PAGE_SIZE,
    total: Math.min(total, TOTAL_CAP),
    totalCapped: total > TOTAL_CAP,
  };
}

const TOTAL_CAP = 10_000;

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
