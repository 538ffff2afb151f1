// Ids as they appear in URLs, webhooks and forms: checked before they reach a query, so a
// malformed one is a plain "not found" rather than a database type error.
import { randomUUID } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * A version 7 uuid (RFC 9562), as pc_uuid_v7() makes them for contacts.id's default: the Unix
 * milliseconds in the first 48 bits, then the version, then random bits (74 of them, the same
 * as the database's: randomUUID's version nibble becomes 7, its variant bits stay). For writers
 * that hand the database many ids at once (the import's COPY); one id is the column's default.
 */
export function uuidV7(now = Date.now()): string {
  if (now !== lastMs) {
    const time = now.toString(16).padStart(12, '0');
    lastPrefix = `${time.slice(0, 8)}-${time.slice(8)}-7`;
    lastMs = now;
  }
  return lastPrefix + randomUUID().slice(15);
}

// the time part of the last id made: a batch's ids share one millisecond
let lastMs = -1;
let lastPrefix = '';
