import { type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import { type ConsentMethod, grantConsent, revokeConsent, STAFF_METHODS } from '../consent/service.ts';
import { eraseContact, saveContact } from '../contacts/profile.ts';
import {
  type ContactPatch,
  changeContactEmail,
  cleanEmail,
  cleanLocale,
  cleanRegion,
  isTimeZone,
  MAX_NAME,
  parsePhone,
} from '../contacts/service.ts';
import { CHANNELS, isChannel, PHONE_CHANNELS, type PhoneChannel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { field, fieldValues } from '../http/form-body.ts';
import { parseWhole } from '../http/validate.ts';
import { preferencesView, setPreferences } from '../preferences/service.ts';
import { preferencesUrl } from '../tokens/tokens.ts';
import { can, originOf, render } from './render.ts';
import {
  contactPageFacts,
  createContactForStaff,
  liftSuppression,
  listAccounts,
  requireContactForStaff,
  STATUS_FILTERS,
  type Staff,
  type StatusFilter,
  searchContacts,
  suppressContact,
} from './service.ts';

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function contactPages(ctx: AppContext) {
  const r = Router();
  const keys = ctx.config.tokenKeys;
  // ---- contacts ---------------------------------------------------------------------------
  r.get('/admin/contacts', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const q = str(req.query.q)?.slice(0, 320) ?? '';
    const account = str(req.query.account)?.slice(0, 200) ?? '';
    const page = parseWhole(str(req.query.page), 1, 100_000) ?? 1;
    const statusRaw = str(req.query.status) ?? '';
    const status = (STATUS_FILTERS as readonly string[]).includes(statusRaw)
      ? (statusRaw as StatusFilter)
      : null;
    const result = await searchContacts(
      ctx,
      req.staff as Staff,
      { q, account, page, status },
      ctx.config.defaultPhoneRegion,
    );
    render(req, res, 'contacts', 'Contacts', { q, account, status: status ?? '', ...result });
  });

  // ---- create and edit: the API's rules, the API's ledger events ------------------------------
  /** The form's fields as a patch (empty clears), or every problem with the field it belongs to. */
  const readForm = (req: Parameters<typeof field>[0], staff: Staff) => {
    const details: { field: string; message: string }[] = [];
    // A field the form did not send stays as it is; one sent empty is cleared.
    const sent = (name: string) => field(req, name) !== undefined;
    const text = (name: string) => (field(req, name) ?? '').trim();
    const patch: ContactPatch = {};
    if (sent('name')) {
      const name = text('name');
      if (name.length > MAX_NAME) details.push({ field: 'name', message: `at most ${MAX_NAME} characters` });
      patch.name = name || null;
    }
    if (sent('phone')) {
      const phone = text('phone');
      const p = phone ? parsePhone(phone, ctx.config.defaultPhoneRegion) : null;
      if (p && !p.ok) details.push({ field: 'phone', message: p.reason });
      patch.phone = p?.ok ? p.e164 : null;
    }
    if (sent('locale')) {
      const locale = text('locale');
      if (locale && !cleanLocale(locale))
        details.push({ field: 'locale', message: 'a language tag such as en or es-MX' });
      patch.locale = locale ? cleanLocale(locale) : null;
    }
    if (sent('timeZone')) {
      const zone = text('timeZone');
      if (zone && !isTimeZone(zone))
        details.push({ field: 'timeZone', message: 'an IANA time zone such as America/New_York' });
      patch.timeZone = zone || null;
    }
    if (sent('region')) {
      const region = text('region');
      if (region && !cleanRegion(region))
        details.push({
          field: 'region',
          message: 'an ISO 3166-2 region such as US-FL (the state the person lives in)',
        });
      patch.region = region ? cleanRegion(region) : null;
    }
    // A customer administrator's contacts stay in their account, whatever the form says.
    if (staff.role !== 'customer_admin' && sent('account')) patch.accountExternalId = text('account') || null;
    return { patch, details };
  };
  const formPage = async (req: Parameters<typeof field>[0], res: Response, locals: object) => {
    const staff = req.staff as Staff;
    const accounts = staff.role === 'customer_admin' ? [] : await listAccounts(ctx);
    render(req, res, 'contact-form', 'title' in locals ? String(locals.title) : 'Contact', {
      accounts,
      ...locals,
    });
  };

  r.get('/admin/contacts/new', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    await formPage(req, res, { title: 'New contact', contact: null, values: {} });
  });

  r.post('/admin/contacts', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const staff = req.staff as Staff;
    const email = cleanEmail(field(req, 'email') ?? '');
    const { patch, details } = readForm(req, staff);
    if (!email.ok) details.unshift({ field: 'email', message: email.reason });
    if (details.length) throw new DomainError('validation_failed', 'The contact was not created.', details);
    const id = await createContactForStaff(
      ctx,
      originOf(req),
      staff,
      (email as { email: string }).email,
      patch,
    );
    res.redirect(303, `/admin/contacts/${id}?done=created`);
  });

  r.get('/admin/contacts/:id/edit', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx, req.staff as Staff, String(req.params.id));
    await formPage(req, res, {
      title: `Edit ${contact.email}`,
      contact,
      values: {
        name: contact.name ?? '',
        phone: contact.phone ?? '',
        locale: contact.locale ?? '',
        timeZone: contact.time_zone ?? '',
        region: contact.region ?? '',
        account: contact.account_external_id ?? '',
      },
    });
  });

  r.post('/admin/contacts/:id', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const staff = req.staff as Staff;
    const contact = await requireContactForStaff(ctx, staff, String(req.params.id));
    const { patch, details } = readForm(req, staff);
    // A new address: the person keeps their preferences, consents and history.
    const typed = field(req, 'email');
    const email = typed === undefined ? null : cleanEmail(typed);
    if (email && !email.ok) details.unshift({ field: 'email', message: email.reason });
    if (details.length) throw new DomainError('validation_failed', 'The contact was not saved.', details);
    const address = email?.ok ? email.email : contact.email;
    if (address !== contact.email) await changeContactEmail(ctx, originOf(req), contact.id, address);
    await saveContact(ctx, originOf(req), address, patch);
    back(res, contact.id, 'details');
  });

  r.get('/admin/contacts/:id', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const before = parseWhole(str(req.query.before), 1, Number.MAX_SAFE_INTEGER) ?? undefined;
    const {
      contact,
      topics,
      prefs,
      consents,
      history,
      historyOlderThan,
      suppression,
      sms,
      voice,
      actorName,
      showOrigin,
      eventLabel,
    } = await contactPageFacts(ctx, req.staff as Staff, String(req.params.id), before);
    render(req, res, 'contact', contact.email, {
      actorName,
      showOrigin,
      eventLabel,
      contact,
      topics,
      view: preferencesView(topics, prefs),
      channels: CHANNELS,
      consents,
      history,
      historyOlderThan,
      historyPaged: Boolean(before),
      suppression,
      disclosures: { sms, voice },
      methods: STAFF_METHODS,
      preferencesLink: preferencesUrl(ctx.config.baseUrl, keys, contact.id),
    });
  });

  const back = (res: Response, id: string, done: string) =>
    res.redirect(303, `/admin/contacts/${id}?done=${done}#${done}`);

  r.post('/admin/contacts/:id/preferences', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx, req.staff as Staff, String(req.params.id));
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
    const contact = await requireContactForStaff(ctx, req.staff as Staff, String(req.params.id));
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
    // The day the person agreed (a paper form signed last week), not the day it is typed in.
    const givenOn = (field(req, 'givenOn') ?? '').trim();
    let capturedAt: Date | undefined;
    if (givenOn) {
      const day = /^\d{4}-\d{2}-\d{2}$/.test(givenOn) ? new Date(`${givenOn}T12:00:00Z`) : null;
      const now = ctx.now().getTime();
      if (!day || Number.isNaN(day.getTime()) || day.getTime() > now + 14 * 3600_000)
        details.push({ field: 'givenOn', message: 'a date, today or before' });
      else if (day.getTime() < now - 2 * 366 * 24 * 3600_000)
        details.push({
          field: 'givenOn',
          message: 'within the last two years (older consent needs fresh consent)',
        });
      else if (givenOn !== ctx.now().toISOString().slice(0, 10)) capturedAt = day;
    }
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
      ...(capturedAt ? { capturedAt } : {}),
    });
    back(res, contact.id, 'consents');
  });

  /** The reason staff give for a revocation, a suppression or lifting one: kept on the ledger. */
  const reasonOf = (req: Parameters<typeof field>[0], what: string) => {
    const reason = (field(req, 'reason') ?? '').trim();
    if (reason.length < 3 || reason.length > 500)
      throw new DomainError(
        'validation_failed',
        `Say why (kept on the contact's history) before you ${what}.`,
        [{ field: 'reason', message: 'required, 3 to 500 characters' }],
      );
    return reason;
  };

  r.post('/admin/contacts/:id/consents/revoke', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx, req.staff as Staff, String(req.params.id));
    const channel = field(req, 'channel') as PhoneChannel;
    const phone = field(req, 'phone');
    if (!(PHONE_CHANNELS as readonly string[]).includes(channel) || !phone) {
      throw new DomainError('validation_failed', 'Choose the number and channel to revoke.');
    }
    const reason = reasonOf(req, 'revoke a consent');
    await revokeConsent(ctx, originOf(req), contact.id, phone, [channel], 'staff', reason);
    back(res, contact.id, 'consents');
  });

  r.post('/admin/contacts/:id/suppress', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const contact = await requireContactForStaff(ctx, req.staff as Staff, String(req.params.id));
    const lift = field(req, 'lift') === 'yes';
    const reason = reasonOf(req, lift ? 'lift a suppression' : 'suppress an address');
    if (lift) await liftSuppression(ctx, originOf(req), contact.id, contact.email, reason);
    else await suppressContact(ctx, originOf(req), contact.id, contact.email, reason);
    back(res, contact.id, 'suppression');
  });

  r.post('/admin/contacts/:id/erase', can('owner'), async (req, res) => {
    const contact = await requireContactForStaff(ctx, req.staff as Staff, String(req.params.id));
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
  return r;
}
