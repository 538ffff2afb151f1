// Console sign-in: scrypt passwords, sessions stored in PostgreSQL by the SHA-256 of a random
// id (a database leak yields no usable cookie), a synchroniser CSRF token per session, an idle
// timeout and an absolute one. Guessing is throttled in login-throttle.ts (never a lockout).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Reader, sql } from '../core.ts';
import { verifyPassword } from './passwords.ts';
import type { Role } from './staff.ts';

export const SESSION_IDLE_MS = 2 * 60 * 60 * 1000;
export const SESSION_MAX_MS = 12 * 60 * 60 * 1000;

export interface StaffSession {
  userId: string;
  email: string;
  name: string | null;
  role: Role;
  accountId: string | null;
  csrf: string;
  idHash: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

// A real hash to compare against when the address is unknown, so a wrong address costs as much
// time as a wrong password (no user enumeration by timing).
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export type LoginResult = { ok: true; userId: string } | { ok: false };

/** Checks a password; unknown and disabled addresses cost the same scrypt as a wrong password. */
export async function checkLogin(from: Reader, email: string, password: string): Promise<LoginResult> {
  const knex = sql(from);
  const user = await knex('staff_users').whereRaw('lower(email) = lower(?)', [email.trim()]).first();
  if (!user || user.disabled_at) {
    await verifyPassword(password, DUMMY_HASH);
    return { ok: false };
  }
  if (!(await verifyPassword(password, user.password_hash))) return { ok: false };
  return { ok: true, userId: user.id };
}

export async function createSession(
  from: Reader,
  userId: string,
  meta: { ip?: string | null; userAgent?: string | null },
  now: Date,
) {
  const knex = sql(from);
  const id = randomBytes(32).toString('base64url');
  await knex('sessions').insert({
    id_hash: sha256(id),
    user_id: userId,
    csrf_token: randomBytes(24).toString('base64url'),
    ip: meta.ip ?? null,
    user_agent: meta.userAgent?.slice(0, 500) ?? null,
    created_at: now,
    last_seen_at: now,
    expires_at: new Date(now.getTime() + SESSION_MAX_MS),
  });
  return id;
}

/** The signed-in user for a cookie value, or null (unknown, expired, idle too long, user disabled). */
export async function loadSession(
  from: Reader,
  id: string | undefined,
  now: Date,
): Promise<StaffSession | null> {
  const knex = sql(from);
  if (!id || id.length > 100) return null;
  const idHash = sha256(id);
  const row = await knex('sessions as s')
    .join('staff_users as u', 'u.id', 's.user_id')
    .where('s.id_hash', idHash)
    .whereNull('u.disabled_at')
    .first(
      's.csrf_token',
      's.last_seen_at',
      's.expires_at',
      'u.id',
      'u.email',
      'u.name',
      'u.role',
      'u.account_id',
    );
  if (!row) return null;
  if (
    new Date(row.expires_at) <= now ||
    now.getTime() - new Date(row.last_seen_at).getTime() > SESSION_IDLE_MS
  ) {
    await knex('sessions').where({ id_hash: idHash }).del();
    return null;
  }
  // Sliding idle timeout, written at most once a minute.
  if (now.getTime() - new Date(row.last_seen_at).getTime() > 60_000) {
    await knex('sessions').where({ id_hash: idHash }).update({ last_seen_at: now });
  }
  return {
    userId: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    accountId: row.account_id,
    csrf: row.csrf_token,
    idHash,
  };
}

export function destroySession(from: Reader, idHash: string) {
  const knex = sql(from);
  return knex('sessions').where({ id_hash: idHash }).del();
}

export function csrfMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
