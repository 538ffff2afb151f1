// Link tokens: the credential in every unsubscribe and preferences link.
// token = base64url(payload) "." kid "." base64url(HMAC-SHA256(key, "pc-token:" kid ":" payload))
// payload = version (1) | purpose (1) | contact uuid (16) | topic slug (utf8, may be empty)
// Bound to purpose, contact and topic; signed with the first TOKEN_SECRET key, verified with any
// configured key (rotation); no expiry (CAN-SPAM and CASL want links that keep working); no email
// address inside; compared in constant time. Any failure is simply "no token" (the caller shows a
// 404 that reveals nothing).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenKey } from '../config.ts';
import { hmacSha256 } from '../hmac.ts';

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
  return hmacSha256(key.secret).update(`pc-token:${key.kid}:${payload}`).digest();
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

/**
 * What an allowed marketing email needs: the link, the RFC 8058 one-click URL and both headers;
 * with an inbound mail domain, List-Unsubscribe also names a mailto: address (RFC 2369) for the
 * clients that unsubscribe by sending mail (Apple Mail and others), after the https URI.
 */
export function unsubscribeBlock(
  baseUrl: string,
  keys: TokenKey[],
  contactId: string,
  topic: string,
  inboundDomain?: string,
) {
  const url = unsubscribeUrl(baseUrl, keys, contactId, topic);
  const mailto = inboundDomain ? `mailto:u+${mailtoCode(keys, contactId, topic)}@${inboundDomain}` : null;
  return {
    url,
    oneClickUrl: url,
    ...(mailto ? { mailto } : {}),
    headers: {
      'List-Unsubscribe': mailto ? `<${url}>, <${mailto}>` : `<${url}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}

// ---- the mailto: unsubscribe code --------------------------------------------------------
// Mail addresses are read without regard to case, so the code is lower-case base32 (RFC 4648
// alphabet), 48 characters: contact uuid (16 bytes) | first 4 bytes of SHA-256(topic slug) |
// first 10 bytes of HMAC-SHA256(key, "pc-mailto:v1:" kid ":" contact | topic hash). Any
// configured key verifies it (rotation); compared in constant time.

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Buffer) {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Buffer | null {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text) {
    const v = B32.indexOf(ch);
    if (v < 0) return null;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

const topicHash = (topic: string) => createHash('sha256').update(topic, 'utf8').digest().subarray(0, 4);
const mailtoMac = (key: TokenKey, body: Buffer) =>
  hmacSha256(key.secret).update(`pc-mailto:v1:${key.kid}:`).update(body).digest().subarray(0, 10);

export function mailtoCode(keys: TokenKey[], contactId: string, topic: string) {
  if (!UUID_HEX.test(contactId)) throw new Error('contactId must be a uuid');
  const body = Buffer.concat([Buffer.from(contactId.replace(/-/g, ''), 'hex'), topicHash(topic)]);
  return base32(Buffer.concat([body, mailtoMac(keys[0], body)]));
}

/** The contact and topic a mailto code names (the topic found among `topics`), or null. */
export function verifyMailtoCode(keys: TokenKey[], code: string, topics: string[]) {
  if (typeof code !== 'string' || code.length !== 48) return null;
  const bytes = unbase32(code.toLowerCase());
  if (bytes?.length !== 30) return null;
  const body = bytes.subarray(0, 20);
  const given = bytes.subarray(20);
  if (!keys.some((k) => timingSafeEqual(mailtoMac(k, body), given))) return null;
  const hash = body.subarray(16);
  const topic = topics.find((t) => topicHash(t).equals(hash));
  if (!topic) return null;
  const hex = body.subarray(0, 16).toString('hex');
  const contactId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { contactId, topic };
}
