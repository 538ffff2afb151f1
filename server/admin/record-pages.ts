import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import { accountByExternalId } from '../contacts/service.ts';
import { DomainError } from '../errors.ts';
import { INSTANT_MESSAGE, parseInstant } from '../http/validate.ts';
import { isUuid } from '../ids.ts';
import { writeContactsCsv, writeEventsCsv, writePreferencesCsv } from '../ledger/export.ts';
import { messageById, messageJson, outboxMessages } from '../mail/service.ts';
import { can, render } from './render.ts';
import { listAccounts } from './service.ts';
import type { StaffSession } from './sessions.ts';

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function recordPages(ctx: AppContext) {
  const r = Router();
  // ---- outbox -----------------------------------------------------------------------------
  // Paged newest first (a keyset place: "before" is the last row's time and id), searched by
  // the start of the address.
  r.get('/admin/outbox', can('owner', 'staff'), async (req, res) => {
    const to = (str(req.query.to) ?? '').trim().slice(0, 320);
    const place = /^(\d{4}-\d\d-\d\dT[\d:.]+Z)_([0-9a-f-]{36})$/.exec(str(req.query.before) ?? '');
    if (req.query.before !== undefined && !place)
      throw new DomainError('validation_failed', 'That page link is damaged: start from the first page.', [
        { field: 'before', message: 'a place from the "Older" link' },
      ]);
    const { rows, next } = await outboxMessages(ctx, {
      to: to || undefined,
      before: place ? { at: new Date(place[1]), id: place[2] } : undefined,
    });
    const query = (extra: Record<string, string>) =>
      `/admin/outbox?${new URLSearchParams({ ...(to ? { to } : {}), ...extra }).toString()}`;
    render(req, res, 'outbox', 'Outbox', {
      messages: rows.map((m) => ({
        id: m.id,
        to: m.to_email,
        topic: m.topic,
        subject: m.subject,
        status: m.status,
        reason: m.reason,
        createdAt: new Date(m.created_at).toISOString(),
      })),
      to,
      paged: Boolean(place),
      firstHref: query({}),
      olderHref: next ? query({ before: `${next.at.toISOString()}_${next.id}` }) : null,
      transport: ctx.mailer.transport,
    });
  });

  r.get('/admin/outbox/:id', can('owner', 'staff'), async (req, res) => {
    const id = String(req.params.id);
    const row = isUuid(id) ? await messageById(ctx, id) : undefined;
    if (!row) throw new DomainError('not_found', 'No such message.');
    const msg = messageJson(row);
    const link = /^<([^>]+)>$/.exec(msg.headers['List-Unsubscribe'] ?? '')?.[1] ?? null;
    render(req, res, 'message', msg.subject, { msg, unsubscribeLink: link });
  });

  // The message's HTML as a mail client would show it, for the frame on the message page. It is
  // the sender's markup, so it runs in a sandbox (no script, no forms, an origin of its own) and
  // may load nothing from elsewhere: no tracking pixel fires because staff looked at it.
  r.get('/admin/outbox/:id/preview', can('owner', 'staff'), async (req, res) => {
    const id = String(req.params.id);
    const row = isUuid(id) ? await messageById(ctx, id) : undefined;
    if (!row) throw new DomainError('not_found', 'No such message.');
    res.setHeader(
      'Content-Security-Policy',
      "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; frame-ancestors 'self'; form-action 'none'; base-uri 'none'",
    );
    res.setHeader('X-Frame-Options', 'SAMEORIGIN');
    res.setHeader('Cache-Control', 'no-store');
    res
      .type('html')
      .send(row.html ?? '<p style="font-family:sans-serif;color:#555">This message has no HTML part.</p>');
  });

  // ---- exports ----------------------------------------------------------------------------
  r.get('/admin/exports', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const accounts = req.staff?.role === 'customer_admin' ? [] : await listAccounts(ctx);
    render(req, res, 'exports', 'Exports', { accounts });
  });

  /** The account an export covers: a customer_admin's own, whatever the URL says. */
  async function exportAccount(req: Request): Promise<string | undefined> {
    const staff = req.staff as StaffSession;
    if (staff.role === 'customer_admin') return staff.accountId as string;
    const ext = str(req.query.account);
    if (!ext) return undefined;
    const a = await accountByExternalId(ctx, ext);
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
    await writeEventsCsv(ctx, { accountId, since, until }, res);
  });

  r.get('/admin/exports/preferences.csv', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const accountId = await exportAccount(req);
    csvHeaders(res, 'preferences');
    await writePreferencesCsv(ctx, accountId, res);
  });

  r.get('/admin/exports/contacts.csv', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const accountId = await exportAccount(req);
    csvHeaders(res, 'contacts');
    await writeContactsCsv(ctx, accountId, res, ctx.now());
  });
  return r;
}
