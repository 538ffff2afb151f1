// A second wall behind the CSRF token for console forms: browsers say where a POST comes from
// (Sec-Fetch-Site, Origin). A request another site made is refused whatever it carries. Tools
// that send neither header (curl, tests) are left to the token.
import type { Request } from 'express';

export function isSameOrigin(req: Request, baseUrl: string): boolean {
  const site = req.get('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.get('origin');
  if (origin === undefined) return true;
  const ours = [new URL(baseUrl).origin, `${req.protocol}://${req.get('host')}`];
  return ours.includes(origin);
}
