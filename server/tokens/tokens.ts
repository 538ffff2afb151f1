// Link tokens: the credential in every unsubscribe and preferences link.
// token = base64url(payload) "." kid "." base64url(HMAC-SHA256(key, "pc-token:" kid ":" payload))
// payload = version (1) | purpose (1) | contact uuid (16) | topic slug (utf8, may be empty)
// Bound to purpose, contact and topic; signed with the first TOKEN_SECRET key, verified with any
// configured key (rotation); no expiry (CAN-SPAM and CASL want links that keep working); no email
// address inside; compared in constant time. Any failure is simply "no token" (the caller shows a
// 404 that reveals nothing).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TokenKey } from '../config.ts';

export type TokenPurpose = 'unsubscribe' | 'preferences';

export interface TokenClaims {
  purpose: TokenPurpose;
  contactId: string;
  /** The topic an unsubscribe link is for; null for preference links. */
  topic: string | null;
}

const VERSION = 1;
const PURPOSE_CODE: Record<TokenPurpose, number> = { unsubscribe: 1, preferences: 2 };
const PURPOSE_BY_CODE: Record<number, TokenPurpose> = { 1: 'unsubscribe', 2: 'preferences' };
const UUID_HEX = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const MAX_TOKEN_LENGTH = 300;

function mac(key: TokenKey, payload: string): Buffer {
  return createHmac('sha256', key.secret).update(`pc-token:${key.kid}:${payload}`).digest();
}

export function signToken(keys: TokenKey[], claims: TokenClaims): string {
  if (!UUID_HEX.test(claims.contactId)) throw new Error('contactId must be a uuid');
  const topic = Buffer.from(claims.topic ?? '', 'utf8');
  const payload = Buffer.concat([
    Buffer.from([VERSION, PURPOSE_CODE[claims.purpose]]),
    Buffer.from(claims.contactId.replace(/-/g, ''), 'hex'),
    topic,
  ]).toString('base64url');
  const key = keys[0];
  return `${payload}.${key.kid}.${mac(key, payload).toString('base64url')}`;
}

export function verifyToken(keys: TokenKey[], token: string, purpose?: TokenPurpose): TokenClaims | null {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [payload, kid, sig] = parts;
  const key = keys.find((k) => k.kid === kid);
  if (!key || !/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return null;
  const given = Buffer.from(sig, 'base64url');
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const bytes = Buffer.from(payload, 'base64url');
  if (bytes.length < 18 || bytes[0] !== VERSION) return null;
  const claimedPurpose = PURPOSE_BY_CODE[bytes[1]];
  if (!claimedPurpose || (purpose && claimedPurpose !== purpose)) return null;
  const hex = bytes.subarray(2, 18).toString('hex');
  const contactId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const topic = bytes.subarray(18).toString('utf8') || null;
  if (claimedPurpose === 'unsubscribe' && !topic) return null;
  return { purpose: claimedPurpose, contactId, topic };
}

export function unsubscribeUrl(baseUrl: string, keys: TokenKey[], contactId: string, topic: string) {
  return `${baseUrl}/u/${signToken(keys, { purpose: 'unsubscribe', contactId, topic })}`;
}

export function preferencesUrl(baseUrl: string, keys: TokenKey[], contactId: string) {
  return `${baseUrl}/preferences/${signToken(keys, { purpose: 'preferences', contactId, topic: null })}`;
}

/** What an allowed marketing email needs: the link, the RFC 8058 one-click URL and both headers. */
export function unsubscribeBlock(baseUrl: string, keys: TokenKey[], contactId: string, topic: string) {
  const url = unsubscribeUrl(baseUrl, keys, contactId, topic);
  return {
    url,
    oneClickUrl: url,
    headers: { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
  };
}
