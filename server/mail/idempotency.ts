// Idempotency-Key for the gateway (the Stripe/IETF draft convention): the same key and body
// within 24 h answers the first result without sending again; the same key with another body
// is a 409. The key row is claimed before sending (primary key: api key + idempotency key),
// so two concurrent requests with one key cannot both send. A request that fails with an
// error (provider down, bad input) releases its key so the caller can retry with it; one whose
// process dies leaves a lease that lapses within a minute (see LEASE_MS).

import { createHash } from 'node:crypto';
import { type Reader, sql } from '../core.ts';
import { jsonColumn } from '../db.ts';
import { DomainError } from '../errors.ts';
import {
  claimKey,
  dropExpiredKey,
  keyRow,
  releaseKey,
  renewKeyLease,
  storeKeyAnswer,
  takeLapsedKey,
} from './queries.ts';

const WINDOW_MS = 24 * 60 * 60 * 1000;

export interface StoredAnswer {
  status: number;
  body: unknown;
  replayed: boolean;
}

export function requestHash(route: string, body: unknown) {
  return createHash('sha256')
    .update(`${route}\n${JSON.stringify(body)}`)
    .digest('hex');
}

export function checkKey(key: string | undefined) {
  if (key === undefined) return;
  if (key.length < 1 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new DomainError('validation_failed', 'Idempotency-Key must be 1 to 255 visible ASCII characters.', [
      { field: 'Idempotency-Key', message: '1-255 visible ASCII characters' },
    ]);
  }
}

/** How long an in-progress claim holds its key without being renewed (a crashed request's key frees up then). */
export const LEASE_MS = 60_000;
const RENEW_MS = LEASE_MS / 3;

export async function withIdempotency(
  from: Reader,
  apiKeyId: string,
  key: string | undefined,
  hash: string,
  run: () => Promise<{ status: number; body: unknown }>,
  leaseMs = LEASE_MS,
): Promise<StoredAnswer> {
  const knex = sql(from);
  if (key === undefined) return { ...(await run()), replayed: false };
  const leaseUntil = () => new Date(Date.now() + leaseMs);
  const runHolding = async () => {
    // The lease is renewed while this request runs (a 1,000-message batch takes a while); a
    // process that dies stops renewing, and the key is free again within one lease.
    const renew = setInterval(
      () => {
        renewKeyLease(knex, apiKeyId, key, leaseUntil()).catch(() => {});
      },
      Math.min(RENEW_MS, leaseMs / 3),
    );
    try {
      const answer = await run();
      await storeKeyAnswer(knex, apiKeyId, key, answer.status, answer.body);
      return { ...answer, replayed: false };
    } catch (err) {
      await releaseKey(knex, apiKeyId, key);
      throw err;
    } finally {
      clearInterval(renew);
    }
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await claimKey(knex, apiKeyId, key, hash, leaseUntil())) return runHolding();
    const existing = await keyRow(knex, apiKeyId, key);
    if (!existing) continue; // released meanwhile: claim again
    if (Date.now() - new Date(existing.created_at).getTime() > WINDOW_MS) {
      await dropExpiredKey(knex, apiKeyId, key, existing.created_at);
      continue;
    }
    if (existing.request_hash !== hash) {
      throw new DomainError(
        'conflict',
        'This Idempotency-Key was already used with a different request body. Use a new key for a new message.',
      );
    }
    if (existing.status_code == null) {
      const lapsed = !existing.lease_until || new Date(existing.lease_until).getTime() <= Date.now();
      if (lapsed) {
        // The request that held it stopped (a crash, a deploy): take it over. Messages it
        // already stored are answered from what was stored, never sent again.
        if (await takeLapsedKey(knex, apiKeyId, key, leaseUntil())) return runHolding();
        continue;
      }
      const wait = Math.ceil((new Date(existing.lease_until).getTime() - Date.now()) / 1000);
      throw new DomainError(
        'conflict',
        `A request with this Idempotency-Key is still being processed. Retry in ${wait} s at the latest.`,
      );
    }
    const body = jsonColumn(existing.response);
    return { status: existing.status_code, body, replayed: true };
  }
  throw new DomainError('conflict', 'This Idempotency-Key is busy. Retry shortly.');
}
