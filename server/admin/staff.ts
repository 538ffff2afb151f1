import { createHash, randomBytes } from 'node:crypto';
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
      'u.disabled_at',
      'u.created_at',
    );
}

/** Emails of these staff users, to show who acted instead of an id. */
export function staffEmails(knex: Knex, ids: string[]): Promise<{ id: string; email: string }[]> {
  return ids.length ? knex('staff_users').whereIn('id', ids).select('id', 'email') : Promise.resolve([]);
}

// ---- one-time links: invitations, resets, the first owner --------------------------------------

const HOUR = 3600_000;
export const LINK_HOURS = { invite: 72, reset: 24, first_owner: 24 } as const;
export type LinkPurpose = keyof typeof LINK_HOURS;
const linkHash = (token: string) => createHash('sha256').update(`pc-staff-link:${token}`).digest('hex');

/** A new one-time link (only its hash is kept): an invitation, a reset or the first owner's. */
export async function issueStaffLink(from: Reader, purpose: LinkPurpose, staffId: string | null, now: Date) {
  const token = randomBytes(32).toString('base64url');
  await sql(from)('staff_links').insert({
    token_hash: linkHash(token),
    purpose,
    staff_id: staffId,
    expires_at: new Date(now.getTime() + LINK_HOURS[purpose] * HOUR),
  });
  return token;
}

export interface StaffLink {
  purpose: LinkPurpose;
  staffId: string | null;
  email: string | null;
}

/** What a link is for, while it is unused, unexpired and (first owner) no user exists yet. */
export async function staffLinkFor(from: Reader, token: string, now: Date): Promise<StaffLink | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const knex = sql(from);
  const row = await knex('staff_links as l')
    .leftJoin('staff_users as u', 'u.id', 'l.staff_id')
    .where('l.token_hash', linkHash(token))
    .whereNull('l.used_at')
    .where('l.expires_at', '>', now)
    .first('l.purpose', 'l.staff_id', 'u.email', 'u.disabled_at');
  if (!row || row.disabled_at) return null;
  if (row.purpose === 'first_owner' && (await knex('staff_users').first('id'))) return null;
  return { purpose: row.purpose, staffId: row.staff_id, email: row.email };
}

/**
 * Uses a link: sets the user's password (an invitation or a reset; every session of theirs
 * ends) or creates the first owner. Once: the link row is locked and marked used in the same
 * transaction. Answers the address that can now sign in.
 */
export async function useStaffLink(
  from: Reader,
  ledger: Ledger,
  token: string,
  input: { password: string; email?: string; name?: string },
  now: Date,
): Promise<string> {
  const knex = sql(from);
  if (input.password.length < MIN_PASSWORD_LENGTH)
    throw new DomainError('validation_failed', 'The password is too short.', [
      { field: 'password', message: `at least ${MIN_PASSWORD_LENGTH} characters` },
    ]);
  const passwordHash = await hashPassword(input.password);
  return knex.transaction(async (trx) => {
    const link = await trx('staff_links')
      .where({ token_hash: linkHash(token) })
      .forUpdate()
      .first();
    const valid = await staffLinkFor(trx, token, now);
    if (!link || !valid)
      throw new DomainError(
        'not_found',
        'This link was used already or has expired. Ask an owner for a new one.',
      );
    await trx('staff_links').where({ token_hash: link.token_hash }).update({ used_at: now });
    if (valid.purpose === 'first_owner') {
      await trx.raw('lock table staff_users in exclusive mode');
      if (await trx('staff_users').first('id'))
        throw new DomainError('conflict', 'A console user exists already: sign in instead.');
      const user = await createStaffUser(
        trx,
        ledger,
        { actor: 'system' },
        {
          email: input.email ?? '',
          password: input.password,
          role: 'owner',
          name: input.name,
        },
      );
      return user.email;
    }
    await trx('staff_users').where({ id: valid.staffId }).update({ password_hash: passwordHash });
    await trx('sessions').where({ user_id: valid.staffId }).del();
    await ledger.append(
      trx,
      { actor: `staff:${valid.staffId}` },
      {
        type: valid.purpose === 'invite' ? 'staff.joined' : 'staff.password_reset',
        data: { staffId: valid.staffId },
      },
    );
    return valid.email as string;
  });
}

/** An owner invites: the user exists at once (no usable password) and gets a 72-hour link. */
export async function inviteStaffUser(
  from: Reader,
  ledger: Ledger,
  origin: Origin,
  input: Omit<NewStaffUser, 'password'>,
  now: Date,
) {
  const knex = sql(from);
  return knex.transaction(async (trx) => {
    // A password nobody knows until the invitation sets one.
    const user = await createStaffUser(trx, ledger, origin, {
      ...input,
      password: randomBytes(32).toString('hex'),
    });
    const token = await issueStaffLink(trx, 'invite', user.id, now);
    await ledger.append(trx, origin, { type: 'staff.invited', data: { staffId: user.id } });
    return { user, token };
  });
}

export function staffUserByEmail(from: Reader, email: string) {
  return sql(from)('staff_users')
    .whereRaw('lower(email) = lower(?)', [email.trim()])
    .first('id', 'email', 'role', 'account_id', 'disabled_at');
}

export async function staffUserById(from: Reader, id: string) {
  if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
  return sql(from)('staff_users').where({ id }).first('id', 'email', 'role', 'account_id', 'disabled_at');
}

const activeOwners = (trx: Knex.Transaction) =>
  trx('staff_users').where({ role: 'owner' }).whereNull('disabled_at').count({ n: '*' }).first();

/** Disables or enables a user; a disabled user's sessions end. The last active owner stays. */
export async function setStaffDisabled(
  from: Reader,
  ledger: Ledger,
  origin: Origin,
  id: string,
  disabled: boolean,
  now: Date,
) {
  return sql(from).transaction(async (trx) => {
    const user = await trx('staff_users').where({ id }).forUpdate().first();
    if (!user) throw new DomainError('not_found', 'No such console user.');
    if (disabled && user.role === 'owner' && !user.disabled_at && Number((await activeOwners(trx))?.n) <= 1)
      throw new DomainError('conflict', 'This is the last active owner: make another owner first.');
    await trx('staff_users')
      .where({ id })
      .update({ disabled_at: disabled ? now : null });
    if (disabled) await trx('sessions').where({ user_id: id }).del();
    await ledger.append(trx, origin, {
      type: disabled ? 'staff.disabled' : 'staff.enabled',
      data: { staffId: id },
    });
  });
}

/** Changes a user's role (and, for a customer administrator, account); their sessions end. */
export async function changeStaffRole(
  from: Reader,
  ledger: Ledger,
  origin: Origin,
  id: string,
  role: string,
  accountExternalId: string | null,
) {
  if (!(ROLES as readonly string[]).includes(role))
    throw new DomainError('validation_failed', 'Choose a role.', [
      { field: 'role', message: ROLES.join(', ') },
    ]);
  if ((role === 'customer_admin') !== Boolean(accountExternalId))
    throw new DomainError(
      'validation_failed',
      'A customer administrator has one account; other roles have none.',
      [
        {
          field: 'account',
          message: role === 'customer_admin' ? 'the account they administer' : 'leave empty',
        },
      ],
    );
  return sql(from).transaction(async (trx) => {
    const user = await trx('staff_users').where({ id }).forUpdate().first();
    if (!user) throw new DomainError('not_found', 'No such console user.');
    if (
      user.role === 'owner' &&
      role !== 'owner' &&
      !user.disabled_at &&
      Number((await activeOwners(trx))?.n) <= 1
    )
      throw new DomainError('conflict', 'This is the last active owner: make another owner first.');
    let accountId: string | null = null;
    if (accountExternalId) {
      const account = await trx('accounts').where({ external_id: accountExternalId }).first('id');
      if (!account) throw new DomainError('not_found', `No account with external id "${accountExternalId}".`);
      accountId = account.id;
    }
    await trx('staff_users').where({ id }).update({ role, account_id: accountId });
    await trx('sessions').where({ user_id: id }).del();
    await ledger.append(trx, origin, {
      type: 'staff.role_changed',
      data: { staffId: id, from: user.role, to: role, accountId },
    });
  });
}

/** With no console user at all, a new one-time link that creates the first owner; else null. */
export async function firstOwnerLink(from: Reader, now: Date): Promise<string | null> {
  if (await sql(from)('staff_users').first('id')) return null;
  return issueStaffLink(from, 'first_owner', null, now);
}
