// Bearer API keys with scopes. A key is looked up by its SHA-256 (the secret never touches the
// database) and the stored hash is compared in constant time. Verified keys are cached for a few
// seconds so the send-permission hot path costs no extra query; a revocation reaches every
// process within API_KEY_CACHE_MS (and this process at once).
import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Knex } from 'knex';
import { activeKeyByHash, hashApiKey, type Scope, touchApiKey } from '../admin/api-keys.ts';
import { DomainError } from '../errors.ts';

export const API_KEY_CACHE_MS = 5000;
const TOUCH_EVERY_MS = 60_000;

export interface Caller {
  apiKeyId: string;
  scopes: Scope[];
}

declare global {
  namespace Express {
    interface Request {
      caller?: Caller;
    }
  }
}

interface CachedKey {
  id: string;
  scopes: Scope[];
  expires: number;
  touched: number;
}

export interface ApiAuth {
  /** A valid key with this scope. */
  require(scope: Scope): (req: Request, res: Response, next: NextFunction) => void;
  /** Any valid key, whatever its scopes (read-only reference data such as topics). */
  requireAny(): (req: Request, res: Response, next: NextFunction) => void;
  forget(apiKeyId: string): void;
}

export function createApiAuth(knex: Knex, onError: (err: unknown) => void): ApiAuth {
  const cache = new Map<string, CachedKey>();

  /** The key a secret names: at once from the cache, else from the database. */
  function resolve(secret: string): CachedKey | Promise<CachedKey | undefined> {
    const keyHash = hashApiKey(secret);
    const hit = cache.get(keyHash);
    if (hit && hit.expires > Date.now()) return hit;
    return lookUp(keyHash);
  }

  async function lookUp(keyHash: string): Promise<CachedKey | undefined> {
    const now = Date.now();
    const row = await activeKeyByHash(knex, keyHash);
    if (!row || !timingSafeEqual(Buffer.from(row.key_hash, 'hex'), Buffer.from(keyHash, 'hex'))) {
      cache.delete(keyHash);
      return undefined;
    }
    if (cache.size > 10_000) cache.clear();
    const entry = {
      id: row.id,
      scopes: row.scopes,
      expires: now + API_KEY_CACHE_MS,
      touched: row.last_used_at ? row.last_used_at.getTime() : 0,
    };
    cache.set(keyHash, entry);
    return entry;
  }

  function guard(scope: Scope | null) {
    return (req: Request, _res: Response, next: NextFunction) => {
      const header = req.headers.authorization ?? '';
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match) {
        next(new DomainError('unauthorized', 'Send your API key as "Authorization: Bearer <key>".'));
        return;
      }
      const admit = (key: CachedKey | undefined) => {
        if (!key)
          return next(new DomainError('unauthorized', 'This API key is not valid or has been revoked.'));
        if (scope && !key.scopes.includes(scope)) {
          return next(new DomainError('forbidden', `This API key lacks the "${scope}" scope needed here.`));
        }
        req.caller = { apiKeyId: key.id, scopes: key.scopes };
        const now = Date.now();
        if (now - key.touched > TOUCH_EVERY_MS) {
          key.touched = now;
          touchApiKey(knex, key.id, new Date(now)).catch(onError);
        }
        next();
      };
      // A cached key is admitted at once: the check path waits on no promise for its caller.
      const key = resolve(match[1]);
      if (key instanceof Promise) key.then(admit, (err) => next(err));
      else admit(key);
    };
  }

  return {
    require: (scope) => guard(scope),
    requireAny: () => guard(null),
    forget(apiKeyId) {
      for (const [hash, entry] of cache) if (entry.id === apiKeyId) cache.delete(hash);
    },
  };
}
