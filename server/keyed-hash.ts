// Keyed hashes (HMAC-SHA256 with HASH_SECRET) stand in for personal data wherever we must
// recognise a value again without keeping it: suppressed addresses of erased people, phone
// numbers on the ledger. HASH_SECRET never rotates: a new secret would un-suppress people.
import { createHmac } from 'node:crypto';

export type HashKind = 'email' | 'phone' | 'login' | 'login-ip';

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function keyedHash(secret: Buffer, kind: HashKind, value: string): string {
  const v = kind === 'email' ? normaliseEmail(value) : value;
  return createHmac('sha256', secret).update(`${kind}:${v}`).digest('hex');
}
