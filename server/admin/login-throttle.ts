// Console sign-in throttling (SPEC "Pages" /admin): never a lockout that a stranger can trigger
// against the owner, never an answer that tells whether an address has an account.
// - Per address and IP: the first 3 failures are free; after that each attempt must wait 5 s,
//   then 10, 20, 40 and at most 60 s after the last failure. A success resets it.
// - Per IP, across addresses: at most 30 failures per 15 minutes (password spraying).
// The same rules hold for addresses with and without an account (the throttle never looks),
// and a throttled attempt is answered before any password is checked, for both alike.
// Kept in PostgreSQL so several web processes share it; keys are keyed hashes.

import { type Reader, sql } from '../core.ts';
import { keyedHash } from '../keyed-hash.ts';

export const FREE_FAILURES = 3;
export const FIRST_WAIT_S = 5;
export const MAX_WAIT_S = 60;
export const IP_FAILURES = 30;
export const IP_WINDOW_MS = 15 * 60_000;

export interface ThrottleKeys {
  pair: string;
  ip: string;
  /** The address alone, so an owner can clear every wait on one user's address. */
  address: string;
}

const addressKey = (hashSecret: Buffer, email: string) =>
  keyedHash(hashSecret, 'login-address', email.trim().toLowerCase());

export function throttleKeys(hashSecret: Buffer, email: string, ip: string): ThrottleKeys {
  return {
    pair: keyedHash(hashSecret, 'login', `${email.trim().toLowerCase()}|${ip}`),
    ip: keyedHash(hashSecret, 'login-ip', ip),
    address: addressKey(hashSecret, email),
  };
}

/** An owner's "unlock": the waits on this address, from every IP, end now. */
export async function clearAddressWaits(from: Reader, hashSecret: Buffer, email: string) {
  return sql(from)('login_throttle')
    .where({ address: addressKey(hashSecret, email) })
    .del();
}

/** Seconds the caller must still wait, or 0. */
export async function loginWait(from: Reader, keys: ThrottleKeys, now: Date): Promise<number> {
  const knex = sql(from);
  const rows: { key: string; failures: number; window_start: Date; blocked_until: Date | null }[] =
    await knex('login_throttle').whereIn('key', [keys.pair, keys.ip]);
  let until = 0;
  for (const r of rows) {
    if (r.key === keys.pair && r.blocked_until) until = Math.max(until, new Date(r.blocked_until).getTime());
    if (r.key === keys.ip && r.failures >= IP_FAILURES) {
      until = Math.max(until, new Date(r.window_start).getTime() + IP_WINDOW_MS);
    }
  }
  return Math.max(0, Math.ceil((until - now.getTime()) / 1000));
}

export async function recordLoginFailure(from: Reader, keys: ThrottleKeys, now: Date) {
  const knex = sql(from);
  // One statement each, so concurrent failures all count.
  await knex.raw(
    `insert into login_throttle (key, failures, window_start, blocked_until, updated_at, address)
     values (?, 1, ?, null, ?, ?)
     on conflict (key) do update set
       failures = login_throttle.failures + 1,
       blocked_until = case when login_throttle.failures + 1 >= ?::int
         then ?::timestamptz + least(?::int * power(2, login_throttle.failures + 1 - ?::int), ?::int) * interval '1 second'
         end,
       updated_at = excluded.updated_at`,
    [keys.pair, now, now, keys.address, FREE_FAILURES, now, FIRST_WAIT_S, FREE_FAILURES, MAX_WAIT_S],
  );
  await knex.raw(
    `insert into login_throttle (key, failures, window_start, updated_at)
     values (?, 1, ?, ?)
     on conflict (key) do update set
       failures = case when login_throttle.window_start <= ?::timestamptz - interval '15 minutes'
                       then 1 else login_throttle.failures + 1 end,
       window_start = case when login_throttle.window_start <= ?::timestamptz - interval '15 minutes'
                       then excluded.window_start else login_throttle.window_start end,
       updated_at = excluded.updated_at`,
    [keys.ip, now, now, now, now],
  );
}

export async function recordLoginSuccess(from: Reader, keys: ThrottleKeys) {
  const knex = sql(from);
  await knex('login_throttle').where({ key: keys.pair }).del();
}
