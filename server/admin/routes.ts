// The admin console (/admin): server-rendered pages for owners, staff and customer administrators.
// Guards are visible per route: `can(...roles)`; tenancy is in the service's queries; every POST
// carries the session's CSRF token (checked once, below, for the whole console).

import { randomBytes } from 'node:crypto';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import {
  type ConsentMethod,
  consentHistory,
  currentDisclosure,
  grantConsent,
  revokeConsent,
  STAFF_METHODS,
} from '../consent/service.ts';
import { parsePhone } from '../contacts/phone.ts';
import { accountByExternalId, suppressionByHash } from '../contacts/queries.ts';
import { eraseContact, upsertAccount } from '../contacts/service.ts';
import {
  AGREEMENT_STATUSES,
  type AgreementStatus,
  CHANNELS,
  isChannel,
  PHONE_CHANNELS,
  type PhoneChannel,
} from '../domain.ts';
import { DomainError } from '../errors.ts';
import { field, fieldValues, formBody } from '../http/form-body.ts';
import { checkFormToken, formToken } from '../http/form-token.ts';
import { refuseBadBody, refuseBadUrl } from '../http/input.ts';
import { isSameOrigin } from '../http/same-origin.ts';
import { INSTANT_MESSAGE, parseInstant, parseWhole } from '../http/validate.ts';
import { isUuid } from '../ids.ts';
import { keyedHash } from '../keyed-hash.ts';
import { writeEventsCsv, writePreferencesCsv } from '../ledger/export.ts';
import { messageById, messageJson, recentMessages } from '../mail/service.ts';
import { preferenceRows, preferencesView, setPreferences } from '../preferences/service.ts';
import { listTopics } from '../preferences/topics.ts';
import { preferencesUrl } from '../tokens/tokens.ts';
import { createApiKey, listApiKeys, parseScopes, revokeApiKey, SCOPES } from './api-keys.ts';
import { importRoutes } from './import.ts';
import { loginWait, recordLoginFailure, recordLoginSuccess, throttleKeys } from './login-throttle.ts';
import { can, originOf, render } from './render.ts';
import {
  contactHistory,
  liftSuppression,
  listAccounts,
  requireContactForStaff,
  type Staff,
  saveTopic,
  searchContacts,
  suppressContact,
} from './service.ts';
import {
  checkLogin,
  createSession,
  csrfMatches,
  destroySession,
  loadSession,
  type StaffSession,
} from './sessions.ts';
import { createStaffUser, listStaffUsers, ROLES, staffEmails } from './staff.ts';
import { webhookConsoleRoutes } from './webhooks.ts';

export const SESSION_COOKIE = 'pc_admin';
const LOGIN_COOKIE = 'pc_login';

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

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
    req.staff = (await loadSession(ctx.db.knex, id, ctx.now())) ?? undefined;
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
    locals: { error?: string; email?: string; next?: string },
  ) => {
    res.status(status).setHeader('Cache-Control', 'no-store');
    res.render('admin/login', {
      title: 'Sign in · Console',
      csrf: formToken(keys, `admin-login:${nonce}`, ctx.now()),
      error: null,
      email: '',
      next: '/admin/contacts',
      ...locals,
    });
  };
  const safeNext = (v: unknown) =>
    typeof v === 'string' && /^\/admin(\/[\w\-/.?=&%]*)?$/.test(v) && !v.startsWith('//')
      ? v
      : '/admin/contacts';

  r.get('/admin/login', (req, res) => {
    if (req.staff) return res.redirect(303, '/admin/contacts');
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
    loginPage(res, 200, nonce, { next: safeNext(req.query.next) });
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
    const wait = await loginWait(ctx.db.knex, throttle, ctx.now());
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      return loginPage(res, 429, nonce, {
        error: `Too many failed sign-ins. Wait ${wait} second${wait === 1 ? '' : 's'}, then try again.`,
        email,
        next,
      });
    }
    const result = await checkLogin(ctx.db.knex, email, password);
    if (!result.ok) {
      await recordLoginFailure(ctx.db.knex, throttle, ctx.now());
      return loginPage(res, 401, nonce, { error: 'That email and password do not match.', email, next });
    }
    await recordLoginSuccess(ctx.db.knex, throttle);
    const id = await createSession(
      ctx.db.knex,
      result.userId,
      { ip: req.ip, userAgent: req.get('user-agent') },
      ctx.now(),
    );
    res.setHeader('Set-Cookie', cookie(id, 12 * 60 * 60));
    res.redirect(303, next);
  });

  // Everything below needs a signed-in user.
  r.use('/admin', (req, res, next) => {
    if (req.staff) return next();
    if (req.method === 'GET')
      return res.redirect(303, `/admin/login?next=${encodeURIComponent(req.originalUrl)}`);
    next(new DomainError('forbidden', 'Your session has ended. Sign in again.'));
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
    await destroySession(ctx.db.knex, (req.staff as StaffSession).idHash);
    res.setHeader('Set-Cookie', cookie('', 0));
    res.redirect(303, '/admin/login');
  });

  r.get('/admin', (_req, res) => res.redirect(303, '/admin/contacts'));

  // ---- contacts ---------------------------------------------------------------------------
  r.get('/admin/contacts', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const q = str(req.query.q)?.slice(0, 320) ?? '';
    const account = str(req.query.account)?.slice(0, 200) ?? '';
    const page = parseWhole(str(req.query.page), 1, 100_000) ?? 1;
    const result = await searchContacts(
      ctx.db.knex,
      req.staff as Staff,
      { q, account, page },
      ctx.config.defaultPhoneRegion,
    );
    render(req, res, 'contacts', 'Contacts', { q, account, ...result });
  });

  r.get('/admin/contacts/:id', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx.db.knex, req.staff as Staff, String(req.params.id));
    const knex = ctx.db.knex;
    const [topics, prefs, consents, history, suppression, sms, voice] = await Promise.all([
      listTopics(knex),
      preferenceRows(knex, contact.id),
      consentHistory(knex, contact.id),
      contactHistory(knex, contact.id),
      suppressionByHash(knex, keyedHash(ctx.config.hashSecret, 'email', contact.email)),
      currentDisclosure(knex, 'sms', contact.locale),
      currentDisclosure(knex, 'voice', contact.locale),
    ]);
    // Show who acted by name: staff actors are stored as ids on the ledger.
    const staffIds = [
      ...new Set(history.map((e) => /^staff:(.+)$/.exec(e.actor)?.[1]).filter(Boolean)),
    ] as string[];
    const people = await staffEmails(knex, staffIds);
    const actorName = (actor: string) => {
      const id = /^staff:(.+)$/.exec(actor)?.[1];
      const who = id && people.find((p) => p.id === id);
      return who ? `staff ${who.email}` : actor;
    };
    render(req, res, 'contact', contact.email, {
      actorName,
      contact,
      topics,
      view: preferencesView(topics, prefs),
      channels: CHANNELS,
      consents,
      history,
      suppression,
      disclosures: { sms, voice },
      methods: STAFF_METHODS,
      preferencesLink: preferencesUrl(ctx.config.baseUrl, keys, contact.id),
    });
  });

  const back = (res: Response, id: string, done: string) =>
    res.redirect(303, `/admin/contacts/${id}?done=${done}#${done}`);

  r.post('/admin/contacts/:id/preferences', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx.db.knex, req.staff as Staff, String(req.params.id));
    const channel = field(req, 'channel');
    const topic = field(req, 'topic');
    const status = field(req, 'status');
    if (!isChannel(channel) || !topic || (status !== 'subscribed' && status !== 'unsubscribed')) {
      throw new DomainError('validation_failed', 'Choose a channel, a topic and subscribed or unsubscribed.');
    }
    await setPreferences(
      ctx,
      originOf(req),
      contact.id,
      [{ channel, topic: topic === '*' ? null : topic, status }],
      {
        via: 'console',
      },
    );
    back(res, contact.id, 'preferences');
  });

  r.post('/admin/contacts/:id/consents', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx.db.knex, req.staff as Staff, String(req.params.id));
    const details: { field: string; message: string }[] = [];
    const method = field(req, 'method') as ConsentMethod | undefined;
    if (!method || !STAFF_METHODS.includes(method))
      details.push({ field: 'method', message: 'verbal or written_agreement' });
    const note = (field(req, 'note') ?? '').trim();
    if (note.length < 3 || note.length > 2000)
      details.push({
        field: 'note',
        message: 'say who took the consent, when and how (required, up to 2,000 characters)',
      });
    const channels = PHONE_CHANNELS.filter((c) => fieldValues(req, 'channels').includes(c));
    if (!channels.length) details.push({ field: 'channels', message: 'tick text messages, calls or both' });
    const typed = (field(req, 'phone') ?? '').trim();
    const phone = typed ? parsePhone(typed, ctx.config.defaultPhoneRegion) : null;
    if (typed && !phone?.ok)
      details.push({ field: 'phone', message: phone && !phone.ok ? phone.reason : 'not valid' });
    if (!typed && !contact.phone)
      details.push({ field: 'phone', message: 'the contact has no number: enter one' });
    const version = parseWhole(field(req, 'disclosureVersion'), 1, 1_000_000) ?? 0;
    if (version < 1)
      details.push({ field: 'disclosureVersion', message: 'the version read to or signed by the person' });
    if (details.length) throw new DomainError('validation_failed', 'The consent was not recorded.', details);
    await grantConsent(ctx, originOf(req), contact.id, {
      phone: phone?.ok ? phone.e164 : contact.phone,
      channels,
      method: method as ConsentMethod,
      disclosureVersions: Object.fromEntries(channels.map((c) => [c, version])),
      locale: contact.locale,
      note,
      ip: null,
      userAgent: null,
    });
    back(res, contact.id, 'consents');
  });

  r.post('/admin/contacts/:id/consents/revoke', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx.db.knex, req.staff as Staff, String(req.params.id));
    const channel = field(req, 'channel') as PhoneChannel;
    const phone = field(req, 'phone');
    if (!(PHONE_CHANNELS as readonly string[]).includes(channel) || !phone) {
      throw new DomainError('validation_failed', 'Choose the number and channel to revoke.');
    }
    await revokeConsent(ctx, originOf(req), contact.id, phone, [channel], 'staff');
    back(res, contact.id, 'consents');
  });

  r.post('/admin/contacts/:id/suppress', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx.db.knex, req.staff as Staff, String(req.params.id));
    if (field(req, 'lift') === 'yes') await liftSuppression(ctx, originOf(req), contact.id, contact.email);
    else await suppressContact(ctx, originOf(req), contact.id, contact.email);
    back(res, contact.id, 'suppression');
  });

  r.post('/admin/contacts/:id/erase', can('owner'), async (req, res) => {
    const contact = await requireContactForStaff(ctx.db.knex, req.staff as Staff, String(req.params.id));
    if ((field(req, 'confirm') ?? '').trim().toLowerCase() !== contact.email.toLowerCase()) {
      throw new DomainError(
        'validation_failed',
        'Type the contact email address exactly to confirm the erasure.',
        [{ field: 'confirm', message: 'must match the address' }],
      );
    }
    await eraseContact(ctx, originOf(req), contact.email);
    res.redirect(303, '/admin/contacts?done=erased');
  });

  // ---- accounts ---------------------------------------------------------------------------
  r.get('/admin/accounts', can('owner', 'staff'), async (req, res) => {
    render(req, res, 'accounts', 'Accounts and agreements', { accounts: await listAccounts(ctx.db.knex) });
  });

  r.post('/admin/accounts', can('owner', 'staff'), async (req, res) => {
    const externalId = (field(req, 'externalId') ?? '').trim();
    const status = field(req, 'status') as AgreementStatus;
    const details: { field: string; message: string }[] = [];
    if (!/^[\w.:-]{1,200}$/.test(externalId))
      details.push({ field: 'externalId', message: 'letters, digits, . _ : - (up to 200)' });
    if (!(AGREEMENT_STATUSES as readonly string[]).includes(status))
      details.push({ field: 'status', message: 'none, signed or terminated' });
    const signedAtRaw = field(req, 'signedAt') ?? '';
    const signedAt = signedAtRaw ? parseInstant(signedAtRaw) : null;
    const reference = (field(req, 'reference') ?? '').trim() || null;
    if (status === 'signed' && (!signedAt || Number.isNaN(signedAt.getTime())))
      details.push({ field: 'signedAt', message: 'the date the agreement was signed' });
    if (status === 'signed' && !reference)
      details.push({ field: 'reference', message: 'the agreement reference' });
    if (details.length) throw new DomainError('validation_failed', 'The account was not saved.', details);
    const name = (field(req, 'name') ?? '').trim();
    await upsertAccount(ctx, originOf(req), externalId, {
      ...(name ? { name: name.slice(0, 200) } : {}),
      agreement: {
        status,
        signedAt: status === 'signed' ? signedAt : null,
        reference: status === 'signed' ? reference : null,
      },
    });
    res.redirect(303, '/admin/accounts?done=saved');
  });

  // ---- topics -----------------------------------------------------------------------------
  r.get('/admin/topics', can('owner', 'staff'), async (req, res) => {
    render(req, res, 'topics', 'Topics', { topics: await listTopics(ctx.db.knex), channels: CHANNELS });
  });

  r.post('/admin/topics', can('owner', 'staff'), async (req, res) => {
    const slug = (field(req, 'slug') ?? '').trim();
    const isNew = field(req, 'new') === 'yes';
    const name = (field(req, 'name') ?? '').trim();
    const kind = field(req, 'kind');
    const channels = CHANNELS.filter((c) => fieldValues(req, 'channels').includes(c));
    const groupRaw = (field(req, 'sendgridGroupId') ?? '').trim();
    const details: { field: string; message: string }[] = [];
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(slug))
      details.push({ field: 'slug', message: 'lower-case letters, digits and dashes' });
    if (!name || name.length > 200) details.push({ field: 'name', message: '1 to 200 characters' });
    if (kind !== 'marketing' && kind !== 'operational')
      details.push({ field: 'kind', message: 'marketing or operational' });
    if (!channels.length) details.push({ field: 'channels', message: 'at least one channel' });
    if (groupRaw && !/^\d{1,9}$/.test(groupRaw))
      details.push({ field: 'sendgridGroupId', message: 'a number' });
    if (details.length) throw new DomainError('validation_failed', 'The topic was not saved.', details);
    await saveTopic(
      ctx,
      originOf(req),
      {
        slug,
        name,
        description: (field(req, 'description') ?? '').trim().slice(0, 1000) || null,
        kind: kind as 'marketing' | 'operational',
        channels,
        sendgridGroupId: groupRaw ? parseWhole(groupRaw) : null,
        confirm: field(req, 'confirm'),
      },
      isNew,
    );
    res.redirect(303, '/admin/topics?done=saved');
  });

  // ---- API keys and users (owner) ---------------------------------------------------------
  r.get('/admin/api-keys', can('owner'), async (req, res) => {
    render(req, res, 'api-keys', 'API keys', {
      keys: await listApiKeys(ctx.db.knex),
      scopes: SCOPES,
      secret: null,
    });
  });

  r.post('/admin/api-keys', can('owner'), async (req, res) => {
    const name = (field(req, 'name') ?? '').trim();
    const scopes = fieldValues(req, 'scopes');
    if (!name || name.length > 200)
      throw new DomainError('validation_failed', 'Give the key a name (what uses it).', [
        { field: 'name', message: '1 to 200 characters' },
      ]);
    const { secret } = await createApiKey(ctx.db.knex, ctx.ledger, originOf(req), {
      name,
      scopes: parseScopes(scopes),
    });
    // The secret is shown once, on this response, and never stored.
    render(req, res, 'api-keys', 'API keys', {
      keys: await listApiKeys(ctx.db.knex),
      scopes: SCOPES,
      secret,
    });
  });

  r.post('/admin/api-keys/:id/revoke', can('owner'), async (req, res) => {
    const id = String(req.params.id);
    await revokeApiKey(ctx.db.knex, ctx.ledger, originOf(req), id);
    ctx.apiAuth.forget(id);
    res.redirect(303, '/admin/api-keys?done=revoked');
  });

  r.get('/admin/staff', can('owner'), async (req, res) => {
    const users = await listStaffUsers(ctx.db.knex);
    render(req, res, 'staff', 'Console users', { users, roles: ROLES });
  });

  r.post('/admin/staff', can('owner'), async (req, res) => {
    await createStaffUser(ctx.db.knex, ctx.ledger, originOf(req), {
      email: field(req, 'email') ?? '',
      password: field(req, 'password') ?? '',
      role: field(req, 'role') ?? '',
      name: (field(req, 'name') ?? '').trim() || undefined,
      accountExternalId: (field(req, 'account') ?? '').trim() || undefined,
    });
    res.redirect(303, '/admin/staff?done=created');
  });

  // ---- outbox -----------------------------------------------------------------------------
  r.get('/admin/outbox', can('owner', 'staff'), async (req, res) => {
    const rows = await recentMessages(ctx.db.knex, 100);
    render(req, res, 'outbox', 'Outbox', {
      messages: rows.map(messageJson),
      transport: ctx.mailer.transport,
    });
  });

  r.get('/admin/outbox/:id', can('owner', 'staff'), async (req, res) => {
    const id = String(req.params.id);
    const row = isUuid(id) ? await messageById(ctx.db.knex, id) : undefined;
    if (!row) throw new DomainError('not_found', 'No such message.');
    const msg = messageJson(row);
    const link = /^<([^>]+)>$/.exec(msg.headers['List-Unsubscribe'] ?? '')?.[1] ?? null;
    render(req, res, 'message', msg.subject, { msg, unsubscribeLink: link });
  });

  // ---- exports ----------------------------------------------------------------------------
  r.get('/admin/exports', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const accounts = req.staff?.role === 'customer_admin' ? [] : await listAccounts(ctx.db.knex);
    render(req, res, 'exports', 'Exports', { accounts });
  });

  /** The account an export covers: a customer_admin's own, whatever the URL says. */
  async function exportAccount(req: Request): Promise<string | undefined> {
    const staff = req.staff as StaffSession;
    if (staff.role === 'customer_admin') return staff.accountId as string;
    const ext = str(req.query.account);
    if (!ext) return undefined;
    const a = await accountByExternalId(ctx.db.knex, ext);
    if (!a) throw new DomainError('not_found', `No account "${ext}".`);
    return a.id;
  }
  const dateOf = (name: string, v: unknown) => {
    if (v === undefined || v === '') return undefined;
    const d = parseInstant(v);
    if (!d)
      throw new DomainError('validation_failed', `"${name}" must be ${INSTANT_MESSAGE}.`, [
        { field: name, message: INSTANT_MESSAGE },
      ]);
    return d;
  };
  const csvHeaders = (res: Response, name: string) => {
    res.status(200);
    res.type('text/csv; charset=utf-8');
    res.setHeader(
      'Content-Disposition',
      `attachment; filename="${name}-${new Date().toISOString().slice(0, 10)}.csv"`,
    );
    res.setHeader('Cache-Control', 'no-store');
  };

  r.get('/admin/exports/events.csv', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const accountId = await exportAccount(req);
    const since = dateOf('since', req.query.since);
    const untilDay = dateOf('until', req.query.until);
    // "until" is a day in the form: include all of it.
    const until = untilDay
      ? new Date(untilDay.getTime() + (/^\d{4}-\d{2}-\d{2}$/.test(String(req.query.until)) ? 86_400_000 : 0))
      : undefined;
    csvHeaders(res, 'events');
    await writeEventsCsv(ctx.db.knex, { accountId, since, until }, res);
  });

  r.get('/admin/exports/preferences.csv', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const accountId = await exportAccount(req);
    csvHeaders(res, 'preferences');
    await writePreferencesCsv(ctx.db.knex, accountId, res);
  });

  r.use(importRoutes(ctx));
  r.use(webhookConsoleRoutes(ctx));

  return r;
}
