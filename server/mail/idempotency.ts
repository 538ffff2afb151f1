// Idempotency-Key for the gateway (the Stripe/IETF draft convention): the same key and body
// within 24 h answers the first result without sending again; the same key with another body
// is a 409. The key row is claimed before sending (primary key: api key + idempotency key),
// so two concurrent requests with one key cannot both send. A request that fails with an
// error (provider down, bad input) releases its key so the caller can retry with it.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { AppError } from '../http/errors.ts';

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
    throw new AppError('validation_failed', 'Idempotency-Key must be 1 to 255 visible ASCII characters.', [
      { field: 'Idempotency-Key', message: '1-255 visible ASCII characters' },
    ]);
  }
}

export async function withIdempotency(
  knex: Knex,
  apiKeyId: string,
  key: string | undefined,
  hash: string,
  run: () => Promise<{ status: number; body: unknown }>,
): Promise<StoredAnswer> {
  if (key === undefined) return { ...(await run()), replayed: false };
  for (let attempt = 0; attempt < 2; attempt++) {
    const claimed = await knex('idempotency_keys')
      .insert({ api_key_id: apiKeyId, key, request_hash: hash })
      .onConflict(['api_key_id', 'key'])
      .ignore()
      .returning('key');
    if (claimed.length) {
      try {
        const answer = await run();
        await knex('idempotency_keys')
          .where({ api_key_id: apiKeyId, key })
          .update({ status_code: answer.status, response: JSON.stringify(answer.body) });
        return { ...answer, replayed: false };
      } catch (err) {
        await knex('idempotency_keys').where({ api_key_id: apiKeyId, key }).del();
        throw err;
      }
    }
    const existing = await knex('idempotency_keys').where({ api_key_id: apiKeyId, key }).first();
    if (!existing) continue; // released meanwhile: claim again
    if (Date.now() - new Date(existing.created_at).getTime() > WINDOW_MS) {
      await knex('idempotency_keys')
        .where({ api_key_id: apiKeyId, key, created_at: existing.created_at })
        .del();
      continue;
    }
    if (existing.request_hash !== hash) {
      throw new AppError(
        'conflict',
        'This Idempotency-Key was already used with a different request body. Use a new key for a new message.',
      );
    }
    if (existing.status_code == null) {
      throw new AppError(
        'conflict',
        'A request with this Idempotency-Key is still being processed. Retry shortly.',
      );
    }
    const body = typeof existing.response === 'string' ? JSON.parse(existing.response) : existing.response;
    return { status: existing.status_code, body, replayed: true };
  }
  throw new AppError('conflict', 'This Idempotency-Key is busy. Retry shortly.');
}
