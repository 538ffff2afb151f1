import type { Knex } from 'knex';
import { type Reader, sql } from '../core.ts';
import { DomainError } from '../errors.ts';
import type { Ledger, Origin } from '../ledger/ledger.ts';
import { hashPassword, MIN_PASSWORD_LENGTH } from './passwords.ts';

export const ROLES = ['owner', 'staff', 'customer_admin'] as const;
export type Role = (typeof ROLES)[number];

export interface NewStaffUser {
  email: string;
  password: string;
  role: string;
  name?: string;
  /** Required for customer_admin: the external id of the account they administer. */
  accountExternalId?: string;
}

export async function createStaffUser(from: Reader, ledger: Ledger, origin: Origin, input: NewStaffUser) {
  const knex = sql(from);
  const details = [];
  const email = input.email.trim();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
    details.push({ field: 'email', message: 'a valid email address' });
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    details.push({ field: 'password', message: `at least ${MIN_PASSWORD_LENGTH} characters` });
  }
  if (!(ROLES as readonly string[]).includes(input.role)) {
    details.push({ field: 'role', message: `one of ${ROLES.join(', ')}` });
  }
  if (input.role === 'customer_admin' && !input.accountExternalId) {
    details.push({
      field: 'account',
      message: 'a customer_admin is bound to one account: give its external id',
    });
  }
  if (input.role !== 'customer_admin' && input.accountExternalId) {
    details.push({ field: 'account', message: 'only a customer_admin is bound to an account' });
  }
  if (details.length) throw new DomainError('validation_failed', 'The staff user is not valid.', details);
  const passwordHash = await hashPassword(input.password);
  return knex.transaction(async (trx) => {
    let accountId: string | null = null;
    if (input.accountExternalId) {
      const account = await trx('accounts').where({ external_id: input.accountExternalId }).first('id');
      if (!account)
        throw new DomainError('not_found', `No account with external id "${input.accountExternalId}".`);
      accountId = account.id;
    }
    const taken = await trx('staff_users').whereRaw('lower(email) = lower(?)', [email]).first('id');
    if (taken) throw new DomainError('conflict', 'A staff user with this email already exists.');
    const [user] = await trx('staff_users')
      .insert({
        email,
        name: input.name ?? null,
        password_hash: passwordHash,
        role: input.role,
        account_id: accountId,
      })
      .returning(['id', 'email', 'role', 'account_id']);
    await ledger.append(trx, origin, {
      type: 'staff.created',
      accountId: null,
      data: { staffId: user.id, role: input.role, accountId },
    });
    return user as { id: string; email: string; role: Role; account_id: string | null };
  });
}

export function listStaffUsers(from: Reader) {
  const knex = sql(from);
  return knex('staff_users as u')
    .leftJoin('accounts as a', 'a.id', 'u.account_id')
    .orderBy('u.email')
    .select(
      'u.id',
      'u.email',
      'u.name',
      'u.role',
      'a.external_id as account',
      'u.locked_until',
      'u.created_at',
    );
}

/** Emails of these staff users, to show who acted instead of an id. */
export function staffEmails(knex: Knex, ids: string[]): Promise<{ id: string; email: string }[]> {
  return ids.length ? knex('staff_users').whereIn('id', ids).select('id', 'email') : Promise.resolve([]);
}
