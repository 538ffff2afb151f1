// Ids as they appear in URLs, webhooks and forms: checked before they reach a query, so a
// malformed one is a plain "not found" rather than a database type error.
import { randomFillSync } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * A version 7 uuid (RFC 9562), as pc_uuid_v7() makes them for contacts.id's default: the Unix
 * milliseconds in the first 48 bits, then the version, then 74 random bits (the same as the
 * database's) with the variant's two. For writers that hand the database many ids at once (the
 * import's COPY); one id is the column's default. Written as bytes and read once as a string:
 * `randomUUID().slice()` joined to the time made some thirty strings an id and a flat copy when
 * it was written (a million-row import made 600 MB of them); this is one string, from random
 * bytes drawn 4 KB at a time from the same source as randomUUID's.
 */
export function uuidV7(now = Date.now()): string {
  if (now !== lastMs) {
    const time = now.toString(16).padStart(12, '0');
    ascii.write(`${time.slice(0, 8)}-${time.slice(8)}-7`, 0, 'latin1');
    lastMs = now;
  }
  if (drawn + 10 > pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  const r = drawn;
  drawn += 10;
  // the third group: the version (7), then 12 random bits
  ascii[15] = HEX[pool[r] & 15];
  ascii[16] = HEX[pool[r + 1] >> 4];
  ascii[17] = HEX[pool[r + 1] & 15];
  // the variant (binary 10) and 14 random bits
  ascii[19] = HEX[8 | (pool[r + 2] & 3)];
  ascii[20] = HEX[pool[r + 3] >> 4];
  ascii[21] = HEX[pool[r + 3] & 15];
  ascii[22] = HEX[pool[r + 2] >> 4];
  // 48 random bits
  for (let i = 0; i < 6; i++) {
    const b = pool[r + 4 + i];
    ascii[24 + 2 * i] = HEX[b >> 4];
    ascii[25 + 2 * i] = HEX[b & 15];
  }
  return ascii.toString('latin1', 0, 36);
}

const HEX = Buffer.from('0123456789abcdef');
// the id being written, its dashes in place; the time part is the last millisecond's
const ascii = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
let lastMs = -1;
const pool = Buffer.alloc(4096);
let drawn = pool.length;
