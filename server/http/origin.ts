import type { Request } from 'express';
import type { Actor, Origin } from '../ledger/ledger.ts';

/** Who made this change and from where, for the ledger. */
export function originOf(req: Request, actor: Actor): Origin {
  const ua = req.get('user-agent');
  return { actor, ip: req.ip ?? null, userAgent: ua ? ua.slice(0, 500) : null };
}

export function apiOrigin(req: Request): Origin {
  return originOf(req, `apikey:${req.caller?.apiKeyId ?? 'unknown'}`);
}
