// What every console page shares: the role guard, the page frame (navigation, CSRF token), and
// who did it (for the ledger). Page families (routes.ts, import.ts, webhooks.ts) import this,
// never each other.
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '../errors.ts';
import { type Staff, staffOrigin } from './service.ts';
import type { StaffSession } from './sessions.ts';
import type { Role } from './staff.ts';

declare module 'express-serve-static-core' {
  interface Request {
    staff?: StaffSession;
  }
}

const NAV: { href: string; label: string; roles: Role[] }[] = [
  { href: '/admin', label: 'Dashboard', roles: ['owner', 'staff', 'customer_admin'] },
  { href: '/admin/contacts', label: 'Contacts', roles: ['owner', 'staff', 'customer_admin'] },
  { href: '/admin/accounts', label: 'Accounts', roles: ['owner', 'staff'] },
  { href: '/admin/topics', label: 'Topics', roles: ['owner', 'staff'] },
  { href: '/admin/outbox', label: 'Outbox', roles: ['owner', 'staff'] },
  { href: '/admin/import', label: 'Import', roles: ['owner', 'staff', 'customer_admin'] },
  { href: '/admin/exports', label: 'Exports', roles: ['owner', 'staff', 'customer_admin'] },
  { href: '/admin/data-requests', label: 'Data requests', roles: ['owner', 'staff', 'customer_admin'] },
  { href: '/admin/webhooks', label: 'Webhooks', roles: ['owner'] },
  { href: '/admin/brand', label: 'Brand', roles: ['owner'] },
  { href: '/admin/api-keys', label: 'API keys', roles: ['owner'] },
  { href: '/admin/staff', label: 'Users', roles: ['owner'] },
];

/** Only these roles may use the route; others get a 403 page (tenancy misses are 404s, in the service). */
export const can =
  (...roles: Role[]) =>
  (req: Request, _res: Response, next: NextFunction) =>
    req.staff && roles.includes(req.staff.role)
      ? next()
      : next(new DomainError('forbidden', 'Your role does not give access to this page.'));

/**
 * A moment as the console shows it: to the minute, in UTC, as a <time> element the page's script
 * may put in the reader's own zone. Markup made of the date's ISO digits only: printed with <%-.
 */
export function utcTime(at: Date | string): string {
  const iso = new Date(at).toISOString();
  return `<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

export function render(req: Request, res: Response, view: string, title: string, locals: object = {}) {
  const staff = req.staff as StaffSession;
  res.setHeader('Cache-Control', 'no-store');
  res.render(`admin/${view}`, {
    title: `${title} · Console`,
    heading: title,
    staff,
    csrf: staff.csrf,
    nav: NAV.filter((n) => n.roles.includes(staff.role)),
    path: req.path,
    done: typeof req.query.done === 'string' ? req.query.done.slice(0, 100) : null,
    utcTime,
    ...locals,
  });
}

/** The signed-in person, as the ledger's actor, with where they acted from. */
export const originOf = (req: Request) =>
  staffOrigin(req.staff as Staff, { ip: req.ip, userAgent: req.get('user-agent')?.slice(0, 500) ?? null });
