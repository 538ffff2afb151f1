// API keys: only a SHA-256 of the secret is stored; the secret is shown once at creation.
// Scopes: check (send-permission), send (mail gateway), contacts, events (ledger export).

import { hash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { type Reader, sql } from '../core.ts';
import { DomainError } from '../errors.ts';
import { isUuid } from '../ids.ts';
import type { Ledger, Origin } from '../ledger/ledger.ts';

export const SCOPES = ['check', 'send', 'contacts', 'events', 'webhooks'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  created_by: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export function hashApiKey(secret: string): string {
  // One-shot: no Hash object per request (a check hashes its caller's key every time).
  return hash('sha256', secret, 'hex');
}

export function parseScopes(raw: string | string[]): Scope[] {
  const list = (Array.isArray(raw) ? raw : raw.split(',')).map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (list.length === 0 || bad.length) {
    throw new DomainError(
      'validation_failed',
      `Scopes must be one or more of ${SCOPES.join(', ')}${bad.length ? `; unknown: ${bad.join(', ')}` : ''}.`,
      [{ field: 'scopes', message: 'unknown or missing scope' }],
    );
  }
  return [...new Set(list)] as Scope[];
}

export async function createApiKey(
  from: Reader,
  ledger: Ledger,
  origin: Origin,
  input: { name: string; scopes: Scope[] },
): Promise<{ key: ApiKey; secret: string }> {
  const knex = sql(from);
  const name = input.name.trim();
  if (!name || name.length > 200) {
    throw new DomainError(
      'validation_failed',
      'Name the key (1-200 characters) so you can tell keys apart later.',
      [{ field: 'name', message: 'required, at most 200 characters' }],
    );
  }
  const secret = `pck_${randomBytes(32).toString('base64url')}`;
  return knex.transaction(async (trx) => {
    const [key] = await trx('api_keys')
      .insert({
        name,
        prefix: secret.slice(0, 10),
        key_hash: hashApiKey(secret),
        scopes: input.scopes,
        created_by: origin.actor,
      })
      .returning([
        'id',
        'name',
        'prefix',
        'scopes',
        'created_by',
        'created_at',
        'last_used_at',
        'revoked_at',
      ]);
    await ledger.append(trx, origin, {
      type: 'apikey.created',
      data: { apiKeyId: key.id, scopes: input.scopes },
    });
    return { key, secret };
  });
}

export async function revokeApiKey(
  from: Reader,
  ledger: Ledger,
  origin: Origin,
  id: string,
): Promise<ApiKey> {
  const knex = sql(from);
  if (!isUuid(id)) throw new DomainError('not_found', `No API key with id ${id}.`);
  return knex.transaction(async (trx) => {
    const key = await trx('api_keys').where({ id }).forUpdate().first();
    if (!key) throw new DomainError('not_found', `No API key with id ${id}.`);
    if (key.revoked_at) return key;
    const [updated] = await trx('api_keys').where({ id }).update({ revoked_at: new Date() }).returning('*');
    await ledger.append(trx, origin, { type: 'apikey.revoked', data: { apiKeyId: id } });
    return updated;
  });
}

export async function listApiKeys(from: Reader): Promise<ApiKey[]> {
  const knex = sql(from);
  return knex('api_keys')
    .select('id', 'name', 'prefix', 'scopes', 'created_by', 'created_at', 'last_used_at', 'revoked_at')
    .orderBy('created_at', 'desc');
}

export async function activeKeyByHash(knex: Knex, keyHash: string) {
  return knex('api_keys')
    .where({ key_hash: keyHash })
    .whereNull('revoked_at')
    .first('id', 'key_hash', 'scopes', 'last_used_at') as Promise<
    { id: string; key_hash: string; scopes: Scope[]; last_used_at: Date | null } | undefined
  >;
}

export async function touchApiKey(knex: Knex, id: string, at: Date) {
  await knex('api_keys').where({ id }).update({ last_used_at: at });
}

/** Names of API keys by id (the history says which key acted, by its name). */
export function apiKeyNames(from: Reader, ids: string[]): Promise<{ id: string; name: string }[]> {
  const knex = sql(from);
  return ids.length ? knex('api_keys').whereIn('id', ids).select('id', 'name') : Promise.resolve([]);
}
