// A second wall behind the CSRF token for console forms: browsers say where a POST comes from
// (Sec-Fetch-Site, Origin). A request another site made is refused whatever it carries. Tools
// that send neither header (curl, tests) are left to the token. Our pages send no referrer, and
// under that policy Chromium posts forms with `Origin: null`: Sec-Fetch-Site decides then.
import type { Request } from 'express';

export function isSameOrigin(req: Request, baseUrl: string): boolean {
  const site = req.get('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return false;
  if (site) return true;
  const origin = req.get('origin');
  if (origin === undefined || origin === 'null') return true;
  const ours = [new URL(baseUrl).origin, `${req.protocol}://${req.get('host')}`];
  return ours.includes(origin);
}
