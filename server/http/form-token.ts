// CSRF tokens for the recipient pages, which have no login and no session. A form token is
// bound to what the form acts on (the link token, or "request-link") and to when the page was
// shown: issued-at "." HMAC(first TOKEN_SECRET key, "pc-form:" binding ":" issued-at).
// A cross-site page cannot read ours to get one, and a token for one link is useless on
// another. Forms are good for a day, then the person reloads (a friendly 403 says so).

import { timingSafeEqual } from 'node:crypto';
import type { TokenKey } from '../config.ts';
import { hmacSha256 } from '../hmac.ts';

const MAX_AGE_SECONDS = 24 * 60 * 60;

function mac(key: TokenKey, binding: string, issuedAt: number) {
  return hmacSha256(key.secret).update(`pc-form:${key.kid}:${binding}:${issuedAt}`).digest();
}

export function formToken(keys: TokenKey[], binding: string, now: Date): string {
  const issuedAt = Math.floor(now.getTime() / 1000);
  return `${issuedAt}.${keys[0].kid}.${mac(keys[0], binding, issuedAt).toString('base64url')}`;
}

export function checkFormToken(keys: TokenKey[], binding: string, token: unknown, now: Date): boolean {
  if (typeof token !== 'string' || token.length > 200) return false;
  const [issued, kid, sig] = token.split('.');
  const issuedAt = Number(issued);
  const key = keys.find((k) => k.kid === kid);
  if (!key || !Number.isInteger(issuedAt) || !sig) return false;
  const age = now.getTime() / 1000 - issuedAt;
  if (age < -300 || age > MAX_AGE_SECONDS) return false;
  const given = Buffer.from(sig, 'base64url');
  const expected = mac(key, binding, issuedAt);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
