// The admin console (/admin): server-rendered pages for owners, staff and customer administrators.
// Guards are visible per route: `can(...roles)`; tenancy is in the service's queries; every POST
// carries the session's CSRF token (checked once, below, for the whole console).

import { randomBytes } from 'node:crypto';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import { DomainError } from '../errors.ts';
import { field, formBody } from '../http/form-body.ts';
import { checkFormToken, formToken } from '../http/form-token.ts';
import { refuseBadBody, refuseBadUrl } from '../http/input.ts';
import { isSameOrigin } from '../http/same-origin.ts';
import { overdueDeletions } from '../requests/service.ts';
import { contactPages } from './contact-pages.ts';
import { dashboardPage } from './dashboard-pages.ts';
import { importRoutes } from './import.ts';
import { loginWait, recordLoginFailure, recordLoginSuccess, throttleKeys } from './login-throttle.ts';
import { recordPages } from './record-pages.ts';
import { requestPages } from './request-pages.ts';
import {
  checkLogin,
  createSession,
  csrfMatches,
  destroySession,
  loadSession,
  type StaffSession,
} from './sessions.ts';
import { setupPages } from './setup-pages.ts';
import { publicUserPages, userPages } from './user-pages.ts';
import { webhookConsoleRoutes } from './webhooks.ts';

export const SESSION_COOKIE = 'pc_admin';
const LOGIN_COOKIE = 'pc_login';

export function adminRoutes(ctx: AppContext) {
  const r = Router();
  const keys = ctx.config.tokenKeys;
  const secure = ctx.config.baseUrl.startsWith('https:');
  const cookie = (value: string, maxAge: number) =>
    serializeCookie(SESSION_COOKIE, value, {
      httpOnly: true,
      secure,
      sameSite: 'lax',
      path: '/admin',
      maxAge,
    });

  r.use('/admin', async (req, _res, next) => {
    const id = parseCookies(req.headers.cookie ?? '')[SESSION_COOKIE];
    req.staff = (await loadSession(ctx, id, ctx.now())) ?? undefined;
    next();
  });

  // ---- sign in / out ----------------------------------------------------------------------
  // Control characters in a console URL are a 400 page, not a database error.
  r.use('/admin', refuseBadUrl);

  // Every console POST, sign-in included, must come from our own pages.
  r.use('/admin', (req, _res, next) => {
    if (req.method === 'POST' && !isSameOrigin(req, ctx.config.baseUrl)) {
      return next(
        new DomainError('forbidden', 'This form was sent from another site. Open the console and try again.'),
      );
    }
    next();
  });

  // The sign-in form's CSRF token is bound to a random cookie of the browser that loaded it, so
  // another site cannot sign a visitor in to an account of its choosing (login CSRF).
  const loginNonce = (req: Request) => {
    const v = parseCookies(req.headers.cookie ?? '')[LOGIN_COOKIE];
    return v && /^[A-Za-z0-9_-]{20,64}$/.test(v) ? v : null;
  };
  const loginPage = (
    res: Response,
    status: number,
    nonce: string,
    locals: { error?: string; email?: string; next?: string; passwordSet?: boolean },
  ) => {
    res.status(status).setHeader('Cache-Control', 'no-store');
    res.render('admin/login', {
      title: 'Sign in · Console',
      csrf: formToken(keys, `admin-login:${nonce}`, ctx.now()),
      error: null,
      email: '',
      next: '/admin',
      ...locals,
    });
  };
  const safeNext = (v: unknown) =>
    typeof v === 'string' && /^\/admin(\/[\w\-/.?=&%]*)?$/.test(v) && !v.startsWith('//') ? v : '/admin';

  r.get('/admin/login', (req, res) => {
    if (req.staff) return res.redirect(303, '/admin');
    let nonce = loginNonce(req);
    if (!nonce) {
      nonce = randomBytes(24).toString('base64url');
      res.setHeader(
        'Set-Cookie',
        // Not a credential (it only binds the form to this browser), so not Secure-only either.
        serializeCookie(LOGIN_COOKIE, nonce, {
          httpOnly: true,
          sameSite: 'strict',
          path: '/admin/login',
          maxAge: 24 * 60 * 60,
        }),
      );
    }
    const email = typeof req.query.email === 'string' ? req.query.email.slice(0, 320) : '';
    loginPage(res, 200, nonce, {
      next: safeNext(req.query.next),
      email,
      passwordSet: req.query.done === 'password_set',
    });
  });

  r.post('/admin/login', formBody, async (req, res) => {
    const nonce = loginNonce(req);
    if (!nonce || !checkFormToken(keys, `admin-login:${nonce}`, field(req, 'csrf'), ctx.now())) {
      throw new DomainError('forbidden', 'The sign-in form expired. Reload the page and try again.');
    }
    const email = (field(req, 'email') ?? '').trim().slice(0, 320);
    const password = (field(req, 'password') ?? '').slice(0, 1000);
    const next = safeNext(field(req, 'next'));
    if (!email || !password)
      return loginPage(res, 400, nonce, { error: 'Enter your email and password.', email, next });
    // Throttled, never locked; the same for addresses with and without an account.
    const throttle = throttleKeys(ctx.config.hashSecret, email, req.ip ?? '');
    const wait = await loginWait(ctx, throttle, ctx.now());
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      return loginPage(res, 429, nonce, {
        error: `Too many failed sign-ins. Wait ${wait} second${wait === 1 ? '' : 's'}, then try again.`,
        email,
        next,
      });
    }
    const result = await checkLogin(ctx, email, password);
    if (!result.ok) {
      await recordLoginFailure(ctx, throttle, ctx.now());
      return loginPage(res, 401, nonce, { error: 'That email and password do not match.', email, next });
    }
    await recordLoginSuccess(ctx, throttle);
    const id = await createSession(
      ctx,
      result.userId,
      { ip: req.ip, userAgent: req.get('user-agent') },
      ctx.now(),
    );
    res.setHeader('Set-Cookie', cookie(id, 12 * 60 * 60));
    res.redirect(303, next);
  });

  // "Forgot password" and the one-time links of console users: no session needed.
  r.use(publicUserPages(ctx));

  // Everything below needs a signed-in user.
  r.use('/admin', (req, res, next) => {
    if (req.staff) return next();
    if (req.method === 'GET')
      return res.redirect(303, `/admin/login?next=${encodeURIComponent(req.originalUrl)}`);
    next(new DomainError('forbidden', 'Your session has ended. Sign in again.'));
  });

  // Deletion requests past their 45 days are flagged on every console page to whoever decides
  // them (an owner or staff: all; a customer administrator: their account's).
  r.use('/admin', async (req, res, next) => {
    if (req.method !== 'GET') return next();
    const staff = req.staff as StaffSession;
    res.locals.overdueDeletions = await overdueDeletions(
      ctx,
      ctx.now(),
      staff.role === 'customer_admin' ? (staff.accountId ?? null) : null,
    ).catch(() => 0);
    next();
  });

  // CSRF: every console POST carries the session's token, multipart forms included. The import
  // upload checks its own field before it stores a byte of the file (import.ts).
  r.use('/admin', (req, _res, next) => {
    if (req.method !== 'POST') return next();
    if (req.path === '/import' && req.is('multipart/form-data')) return next();
    formBody(req, _res, (err?: unknown) => {
      if (err) return next(err);
      if (!csrfMatches((req.staff as StaffSession).csrf, field(req, 'csrf'))) {
        return next(
          new DomainError(
            'forbidden',
            'This form expired or did not come from the console. Reload and try again.',
          ),
        );
      }
      refuseBadBody(req, _res, next);
    });
  });

  r.post('/admin/logout', async (req, res) => {
    await destroySession(ctx, (req.staff as StaffSession).idHash);
    res.setHeader('Set-Cookie', cookie('', 0));
    res.redirect(303, '/admin/login');
  });

  r.use(dashboardPage(ctx));
  r.use(contactPages(ctx));
  r.use(setupPages(ctx));
  r.use(recordPages(ctx));
  r.use(requestPages(ctx));
  r.use(userPages(ctx));
  r.use(importRoutes(ctx));
  r.use(webhookConsoleRoutes(ctx));

  return r;
}
