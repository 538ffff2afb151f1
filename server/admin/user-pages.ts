// Console users (SPEC "Pages" /admin): owners invite by a one-time emailed link, send a reset
// link, clear sign-in waits, disable, enable and change roles; anyone can ask for a reset
// ("forgot password": the same answer whether or not the address has a user). A link opens a
// page whose button does the work (mail scanners fetch links, and must not use them up).
import { Router } from 'express';
import type { AppContext } from '../app.ts';
import { brandedSender, currentBrand } from '../brand/service.ts';
import { DomainError } from '../errors.ts';
import { field, formBody } from '../http/form-body.ts';
import { checkFormToken, formToken } from '../http/form-token.ts';
import { byIp, limiter, sharedStore } from '../http/rate-limit.ts';
import { keyedHash } from '../keyed-hash.ts';
import { clearAddressWaits } from './login-throttle.ts';
import { can, originOf, render } from './render.ts';
import {
  changeStaffRole,
  inviteStaffUser,
  issueStaffLink,
  LINK_HOURS,
  type LinkPurpose,
  listStaffUsers,
  ROLES,
  setStaffDisabled,
  staffLinkFor,
  staffUserByEmail,
  staffUserById,
  useStaffLink,
} from './staff.ts';

const SUBJECT: Record<LinkPurpose, string> = {
  invite: 'You are invited to the {brand} preference center console',
  reset: 'Reset your {brand} console password',
  first_owner: 'Create the first owner',
};

/** Mails a console link (operational mail: it always goes, and says what to do if unexpected). */
async function mailLink(ctx: AppContext, to: string, purpose: LinkPurpose, token: string) {
  const brand = await currentBrand(ctx);
  const url = `${ctx.config.baseUrl}/admin/welcome/${token}`;
  const why =
    purpose === 'invite'
      ? `You have been invited to the ${brand.name} preference center console. Choose your password here (the link works once, for ${LINK_HOURS.invite} hours):`
      : `Someone asked to reset the password of your ${brand.name} console user. Choose a new one here (the link works once, for ${LINK_HOURS.reset} hours):`;
  await ctx.mailer.send({
    to,
    from: brandedSender(brand.name, ctx.config.mailFrom),
    topic: 'account',
    subject: SUBJECT[purpose].replace('{brand}', brand.name),
    text: `${why}\n\n${url}\n\nIf you did not expect this, ignore it: nothing changes until the link is used.`,
  });
}

/** The pages anyone reaches: "forgot password" and the one-time link's page. */
export function publicUserPages(ctx: AppContext) {
  const r = Router();
  const keys = ctx.config.tokenKeys;
  const page = (
    res: Parameters<typeof render>[1],
    status: number,
    view: string,
    title: string,
    locals: object,
  ) => {
    res.status(status).setHeader('Cache-Control', 'no-store');
    res.render(`admin/${view}`, { title: `${title} · Console`, heading: title, ...locals });
  };
  // Per IP and per address, shared by every process: a reset link is a mail to someone.
  const tooMany = (_req: unknown, _res: unknown, next: (err?: unknown) => void) =>
    next(
      new DomainError('rate_limited', 'Too many requests for a reset link: wait a while, then try again.'),
    );
  const forgotByIp = limiter({
    windowMs: 15 * 60_000,
    limit: 10,
    key: byIp,
    store: sharedStore(ctx, 'forgot-ip'),
    onLimit: tooMany,
  });
  const forgotByAddress = limiter({
    windowMs: 60 * 60_000,
    limit: 3,
    store: sharedStore(ctx, 'forgot-address'),
    onLimit: tooMany,
    key: (req) =>
      keyedHash(ctx.config.hashSecret, 'login-address', (field(req, 'email') ?? '').trim().toLowerCase()),
  });

  r.get('/admin/forgot', (_req, res) => {
    page(res, 200, 'forgot', 'Forgot your password?', {
      csrf: formToken(keys, 'admin-forgot', ctx.now()),
      sent: false,
    });
  });

  r.post('/admin/forgot', formBody, forgotByIp, forgotByAddress, async (req, res) => {
    if (!checkFormToken(keys, 'admin-forgot', field(req, 'csrf'), ctx.now()))
      throw new DomainError('forbidden', 'This form expired. Reload the page and try again.');
    const email = (field(req, 'email') ?? '').trim().slice(0, 320);
    const user = email ? await staffUserByEmail(ctx, email) : undefined;
    // The same answer either way; a disabled user gets no link.
    if (user && !user.disabled_at) {
      const token = await issueStaffLink(ctx, 'reset', user.id, ctx.now());
      await mailLink(ctx, user.email, 'reset', token);
    }
    page(res, 200, 'forgot', 'Forgot your password?', {
      csrf: formToken(keys, 'admin-forgot', ctx.now()),
      sent: true,
    });
  });

  // GET shows the form and changes nothing (a mail scanner may fetch it); the button uses the link.
  r.get('/admin/welcome/:token', async (req, res) => {
    const token = String(req.params.token);
    const link = await staffLinkFor(ctx, token, ctx.now());
    if (!link) return page(res, 404, 'welcome', 'Link not valid', { link: null, csrf: '', token: '' });
    page(
      res,
      200,
      'welcome',
      link.purpose === 'first_owner' ? 'Create the first owner' : 'Choose your password',
      {
        link,
        token,
        csrf: formToken(keys, `admin-welcome:${token}`, ctx.now()),
      },
    );
  });

  r.post('/admin/welcome/:token', formBody, async (req, res) => {
    const token = String(req.params.token);
    if (!checkFormToken(keys, `admin-welcome:${token}`, field(req, 'csrf'), ctx.now()))
      throw new DomainError('forbidden', 'This form expired. Open the link again.');
    const password = field(req, 'password') ?? '';
    if (password !== (field(req, 'again') ?? ''))
      throw new DomainError('validation_failed', 'The two passwords differ.', [
        { field: 'again', message: 'type the same password twice' },
      ]);
    const email = await useStaffLink(
      ctx,
      ctx.ledger,
      token,
      { password, email: field(req, 'email'), name: (field(req, 'name') ?? '').trim() || undefined },
      ctx.now(),
    );
    res.redirect(303, `/admin/login?done=password_set&email=${encodeURIComponent(email)}`);
  });
  return r;
}

/** The owners' page of console users and its actions. */
export function userPages(ctx: AppContext) {
  const r = Router();

  r.get('/admin/staff', can('owner'), async (req, res) => {
    const users = await listStaffUsers(ctx);
    render(req, res, 'staff', 'Console users', { users, roles: ROLES, self: req.staff?.userId });
  });

  r.post('/admin/staff', can('owner'), async (req, res) => {
    const { user, token } = await inviteStaffUser(
      ctx,
      ctx.ledger,
      originOf(req),
      {
        email: field(req, 'email') ?? '',
        role: field(req, 'role') ?? '',
        name: (field(req, 'name') ?? '').trim() || undefined,
        accountExternalId: (field(req, 'account') ?? '').trim() || undefined,
      },
      ctx.now(),
    );
    await mailLink(ctx, user.email, 'invite', token);
    res.redirect(303, '/admin/staff?done=invited');
  });

  const target = async (id: string) => {
    const user = await staffUserById(ctx, id);
    if (!user) throw new DomainError('not_found', 'No such console user.');
    return user;
  };

  r.post('/admin/staff/:id/reset', can('owner'), async (req, res) => {
    const user = await target(String(req.params.id));
    if (user.disabled_at) throw new DomainError('conflict', 'This user is disabled: enable them first.');
    const token = await issueStaffLink(ctx, 'reset', user.id, ctx.now());
    await mailLink(ctx, user.email, 'reset', token);
    res.redirect(303, '/admin/staff?done=reset_link_sent');
  });

  r.post('/admin/staff/:id/unlock', can('owner'), async (req, res) => {
    const user = await target(String(req.params.id));
    await clearAddressWaits(ctx, ctx.config.hashSecret, user.email);
    res.redirect(303, '/admin/staff?done=sign-in_waits_cleared');
  });

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    r.post(`/admin/staff/:id/${action}`, can('owner'), async (req, res) => {
      const user = await target(String(req.params.id));
      if (disabled && user.id === req.staff?.userId)
        throw new DomainError('conflict', 'You cannot disable yourself: ask another owner.');
      await setStaffDisabled(ctx, ctx.ledger, originOf(req), user.id, disabled, ctx.now());
      res.redirect(303, `/admin/staff?done=${action}d`);
    });
  }

  r.post('/admin/staff/:id/role', can('owner'), async (req, res) => {
    const user = await target(String(req.params.id));
    await changeStaffRole(
      ctx,
      ctx.ledger,
      originOf(req),
      user.id,
      field(req, 'role') ?? '',
      (field(req, 'account') ?? '').trim() || null,
    );
    res.redirect(303, '/admin/staff?done=role_changed');
  });
  return r;
}
