// Keyed hashes (HMAC-SHA256 with HASH_SECRET) stand in for personal data wherever we must
// recognise a value again without keeping it: suppressed addresses of erased people, phone
// numbers on the ledger. HASH_SECRET never rotates: a new secret would un-suppress people.

import { canonicalEmail } from './contacts/rules.ts';
import { hmacSha256 } from './hmac.ts';

export type HashKind = 'email' | 'phone' | 'login' | 'login-ip' | 'login-address';

export function keyedHash(secret: Buffer, kind: HashKind, value: string): string {
  const v = kind === 'email' ? canonicalEmail(value) : value;
  return hmacSha256(secret).update(`${kind}:${v}`).digest('hex');
}

/**
 * The hashes an address had before the canonical form (before 2026-11-26 an email hash was taken
 * over trim + toLowerCase, without NFC), for the NFC and NFD spellings. An erased or suppressed
 * person stays suppressed under them. Empty for ASCII, where nothing changed.
 */
export function legacyEmailHashes(secret: Buffer, email: string): string[] {
  const t = email.trim();
  if (/^[\x20-\x7e]*$/.test(t)) return [];
  const current = keyedHash(secret, 'email', t);
  const old = [t, t.normalize('NFC'), t.normalize('NFD')].map((v) =>
    hmacSha256(secret).update(`email:${v.toLowerCase()}`).digest('hex'),
  );
  return [...new Set(old)].filter((h) => h !== current);
}
