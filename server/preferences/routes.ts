// Recipient pages (SPEC "Pages"): the unsubscribe link /u/{token} with RFC 8058 one-click,
// the preference center /preferences/{token}, and "email me my link" /preferences.
// No login: the signed link is the credential. GET never changes anything (link scanners
// fetch and even render pages); every change is a POST: either RFC 8058's one-click body, or
// our own form with a form token (CSRF). Every change is on the ledger as actor `recipient`.

import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import type { Brand } from '../brand/service.ts';
import { confirmCode, pendingConfirmation, startConfirmation } from '../consent/confirmation.ts';
import {
  consentHistory,
  consentReceipt,
  currentDisclosure,
  phoneConsentState,
  revokeConsent,
} from '../consent/service.ts';
import { savePreferencePage } from '../contacts/profile.ts';
import { type ContactPatch, cleanEmail, isTimeZone, maskEmail, parsePhone } from '../contacts/service.ts';
import { withDeadline } from '../deadline.ts';
import { CHANNELS, type Channel, PHONE_CHANNELS, type PhoneChannel } from '../domain.ts';
import { DomainError, isDatabaseUnavailable } from '../errors.ts';
import { field, fieldValues, formBody } from '../http/form-body.ts';
import { checkFormToken, formToken } from '../http/form-token.ts';
import { cleanProviderText } from '../http/hygiene.ts';
import { originOf } from '../http/origin.ts';
import { type PageShapes, type Personal, personal } from '../http/page-shapes.ts';
import { byIp, limiter, sharedStore } from '../http/rate-limit.ts';
import { parseWhole } from '../http/validate.ts';
import {
  browserLocale,
  format,
  type Locale,
  pickLocale,
  type Strings,
  strings,
  supportedLocale,
  topicText,
} from '../i18n/index.ts';
import { keyedHash } from '../keyed-hash.ts';
import { confirmDeletion, exportForLink, openDataRequest, requestForLink } from '../requests/service.ts';
import { preferencesUrl, type TokenPurpose, verifyToken } from '../tokens/tokens.ts';
import {
  cachedTopics,
  changedOnPage,
  decodeChange,
  encodeChange,
  FEEDBACK_REASONS,
  type FeedbackReason,
  type LinkContact,
  linkContact,
  linkState,
  listTopics,
  PAUSE_DAYS,
  type PreferenceChange,
  pauseForDays,
  preferencesView,
  queuePreferencesLink,
  recordFeedback,
  resubscribeByLink,
  setPreferences,
  stillComing,
  type Topic,
  unsubscribeByLink,
} from './service.ts';

const CONSENT_MESSAGES = [
  'granted',
  'revoked',
  'none',
  'phone_invalid',
  'not_signed',
  'too_many',
  'opted_out',
  'expired',
];

/**
 * The RFC 8058 field of a POST body, cleaned: undefined when the body has none. Name and value
 * are read without regard to case, stray control bytes or surrounding white space (a trailing
 * CRLF from a mail client): a person who pressed the button wants out.
 */
function oneClickValue(req: Request): string | undefined {
  const body = (req.body ?? {}) as Record<string, unknown>;
  for (const [name, value] of Object.entries(body)) {
    if (cleanProviderText(name)?.trim().toLowerCase() !== 'list-unsubscribe') continue;
    // Repeated with different values is not a clear "One-Click": each value must say it.
    const values = (Array.isArray(value) ? value : [value]).map((v) => (cleanProviderText(v) ?? '').trim());
    return values.every((v) => v === values[0]) ? values[0] : '';
  }
  return undefined;
}
const isOneClick = (value: string) => value.toLowerCase() === 'one-click';

interface PageLocals {
  t: Strings;
  lang: Locale;
  title: string;
  format: typeof format;
  switchPath: Personal | null;
  langChosen: Locale | null;
}

const tokenOf = (req: Request) => String(req.params.token);

/** The language a person picked with the switch on this page (query or form field), if any. */
function chosenLocale(req: Request): Locale | null {
  const q = req.query.lang;
  const picked = typeof q === 'string' ? q : req.method === 'POST' ? field(req, 'lang') : undefined;
  return picked ? supportedLocale(picked) : null;
}

/** "March 3, 2027" / "3 de marzo de 2027", in the contact's time zone when known. */
function longDate(locale: Locale, when: Date | string | null, timeZone: string | null) {
  if (!when) return '';
  const opts: Intl.DateTimeFormatOptions = { dateStyle: 'long', timeZone: timeZone ?? 'UTC' };
  try {
    return new Intl.DateTimeFormat(locale, opts).format(new Date(when));
  } catch {
    return new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(when));
  }
}

function localeFor(req: Request, contact?: { locale: string | null } | null): Locale {
  // The language switch (?lang=, or the hidden field every form carries) wins for this page
  // only: it writes nothing. Then the contact's saved language, then the browser's.
  return chosenLocale(req) ?? pickLocale(contact?.locale ?? null, browserLocale(req));
}

/**
 * Renders a recipient page. `shaped` pages mark every string of their own person with
 * personal() (token, CSRF token, address, name, dates) and are filled from a kept rendering of
 * the same shape (server/http/page-shapes.ts); the rest are rendered whole.
 */
function page(
  res: Response,
  view: string,
  locale: Locale,
  title: keyof Strings,
  locals: object = {},
  shaped = false,
) {
  const t = strings(locale);
  const req = res.req as Request;
  const shapes = res.app.get('page shapes') as PageShapes;
  const all = {
    ...res.locals,
    t,
    lang: locale,
    title: t[title],
    format,
    // The switch links back to this page in each language (GET pages only: a POST's answer has
    // no address of its own); forms carry a language picked with it.
    switchPath: req.method === 'GET' ? personal(req.path) : null,
    langChosen: chosenLocale(req),
    ...locals,
  } satisfies PageLocals;
  let html: string | Buffer;
  try {
    html = shapes.render(view, all, shaped);
  } catch (err) {
    // As res.render does: a template's error goes to the error handler (a page may be answered
    // from a timer, where a throw would have nowhere to go).
    return req.next?.(err);
  }
  // Answered already (a save past its budget was told "unconfirmed"): answerInTime's send drops it.
  if (res.headersSent) return res.send(html);
  res.setHeader('Cache-Control', 'no-store');
  // A page filled from a kept shape comes as UTF-8 bytes: say what they are.
  res.type('html').send(html);
}

function messagePage(
  res: Response,
  status: number,
  locale: Locale,
  title: keyof Strings,
  text: keyof Strings,
  locals: { askNewLink?: boolean } = {},
) {
  res.status(status);
  page(res, 'preferences/message', locale, title, { text: strings(locale)[text], ...locals });
}

/** 404 that says nothing about why: tampered, unknown key, wrong purpose or erased contact. */
function notFound(req: Request, res: Response) {
  messagePage(res, 404, localeFor(req), 'notFoundTitle', 'notFoundText', { askNewLink: true });
}

async function resolve(ctx: AppContext, token: string, purpose: TokenPurpose) {
  const claims = verifyToken(ctx.config.tokenKeys, token, purpose);
  if (!claims) return null;
  const contact = await linkContact(ctx, claims.contactId);
  return contact ? { claims, contact } : null;
}

/** An unsubscribe link's contact and topic (and the topic list the page shows), or null. */
async function resolveUnsubscribe(ctx: AppContext, token: string) {
  const found = await resolve(ctx, token, 'unsubscribe');
  if (!found) return null;
  let topics = await cachedTopics(ctx);
  let topic = topics.find((t) => t.slug === found.claims.topic);
  if (!topic) {
    // A topic newer than the cached copy (created in another process): read it fresh.
    topics = await listTopics(ctx);
    topic = topics.find((t) => t.slug === found.claims.topic);
  }
  return topic ? { contact: found.contact, topic, topics } : null;
}

function operationalTopics(locale: Locale, topics: Topic[]) {
  return topics
    .filter((t) => t.kind === 'operational' && t.channels.includes('email'))
    .map((t) => topicText(locale, t));
}

/** Channels whose marketing a contact can manage here: email always; calls and texts only for signed customers. */
function channelsFor(contact: LinkContact): Channel[] {
  return contact.agreement === 'signed' ? [...CHANNELS] : ['email'];
}

export function preferencePages(ctx: AppContext) {
  const r = Router();
  const keys = ctx.config.tokenKeys;
  const origin = (req: Request) => originOf(req, 'recipient');
  const tooMany = (req: Request, res: Response) =>
    messagePage(res, 429, localeFor(req), 'rateLimitedTitle', 'rateLimitedText');

  // Pages are rate-limited per IP, generously (people behind one NAT share an address). The
  // RFC 8058 one-click POST is not: mailbox providers send those from a few addresses of theirs.
  const pageLimit = ctx.config.pageRateLimit
    ? limiter({
        windowMs: 60_000,
        limit: ctx.config.pageRateLimit,
        key: byIp,
        skip: (req) => req.method === 'POST' && oneClickValue(req) !== undefined,
        onLimit: tooMany,
      })
    : (_req: Request, _res: Response, next: () => void) => next();
  // A person waits on every form they send. If the database hangs (no error, no answer), the
  // save is given WEBHOOK_DB_BUDGET_MS, then the person is told plainly that it is unconfirmed
  // and that sending again is safe (every save applies only what the page changed, so twice is
  // once). The work goes on; its late answer is dropped. One-click has its own budget and spool.
  const answerInTime = (req: Request, res: Response, next: () => void) => {
    if (oneClickValue(req) !== undefined) return next();
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      ctx.metrics.pageSavesUnconfirmed.inc();
      ctx.logger.warn({ reqId: req.id, path: req.route?.path }, 'page save over budget: answered 503');
      messagePage(res, 503, localeFor(req), 'unconfirmedTitle', 'unconfirmedText');
      // The save's own answer, when it comes, goes nowhere: its page or its redirect is
      // dropped here, and logged.
      const dropped = () => {
        ctx.logger.warn({ reqId: req.id }, 'page save finished after its answer');
        return res;
      };
      Object.assign(res, { send: dropped, redirect: dropped });
    }, ctx.config.webhookBudgetMs);
    res.on('finish', () => clearTimeout(timer));
    res.on('close', () => clearTimeout(timer));
    next();
  };
  const postGuards = [formBody, pageLimit, answerInTime];

  // "Email me a link" sends mail, so it is held much tighter: per IP and per address.
  const linkByIp = limiter({
    windowMs: 15 * 60_000,
    limit: 10,
    key: byIp,
    onLimit: tooMany,
    store: sharedStore(ctx, 'link-ip'),
  });
  const linkByAddress = limiter({
    windowMs: 60 * 60_000,
    limit: 3,
    store: sharedStore(ctx, 'link-address'),
    // Keyed by the address's keyed hash: the limiter's memory holds no address.
    key: (req) => keyedHash(ctx.config.hashSecret, 'email', (field(req, 'email') ?? '').slice(0, 320)),
    onLimit: tooMany,
  });

  // ---- /u/{token} -------------------------------------------------------------------------

  // GET shows where the person stands now (link scanners fetch it: it never changes anything).
  r.get('/u/:token', pageLimit, async (req, res) => {
    const found = await resolveUnsubscribe(ctx, tokenOf(req));
    if (!found) return notFound(req, res);
    const { contact, topic, topics } = found;
    const locale = localeFor(req, contact);
    const state = topic.kind === 'marketing' ? linkState(contact, topic.slug, ctx.now()) : 'subscribed';
    const heading = {
      subscribed: 'unsubTitle',
      unsubscribed_topic: 'doneTitle',
      unsubscribed_all: 'doneTitle',
      paused: 'pausedTitle',
      suppressed: 'suppressedTitle',
    } as const;
    page(
      res,
      'preferences/unsubscribe',
      locale,
      heading[state],
      {
        token: personal(tokenOf(req)),
        csrf: personal(formToken(keys, `u:${tokenOf(req)}`, ctx.now())),
        email: personal(maskEmail(contact.email)),
        topic: { ...topicText(locale, topic), kind: topic.kind },
        operational: operationalTopics(locale, topics),
        preferencesUrl: personal(preferencesUrl('', keys, contact.id)),
        state,
        pausedUntil:
          state === 'paused' ? personal(longDate(locale, contact.paused_until, contact.time_zone)) : null,
        pauseDays: PAUSE_DAYS,
      },
      true,
    );
  });

  r.post('/u/:token', ...postGuards, async (req, res) => {
    const oneClick = oneClickValue(req);

    // RFC 8058: a mail client's POST, no cookie, no form token, no redirect. Mail clients do
    // not retry, so while the database is away (or slower than the budget) the opt-out goes to
    // the durable spool and is applied when it returns: the token alone says who and what.
    if (oneClick !== undefined) {
      res.setHeader('Cache-Control', 'no-store');
      const claims = verifyToken(keys, tokenOf(req), 'unsubscribe');
      if (!claims?.topic) return notFound(req, res);
      if (!isOneClick(oneClick)) {
        res.status(400).type('text/plain').send('List-Unsubscribe must be "One-Click" (RFC 8058).\n');
        return;
      }
      const apply = async () => {
        const found = await resolveUnsubscribe(ctx, tokenOf(req));
        if (!found) return false;
        // An operational notice never carries the one-click header; if its link is posted
        // anyway, nothing can be unsubscribed and nothing changes.
        if (found.topic.kind === 'marketing')
          await unsubscribeByLink(ctx, origin(req), found.contact.id, found.topic.slug);
        return true;
      };
      try {
        if (!(await withDeadline(apply(), ctx.config.webhookBudgetMs, 'one-click unsubscribe')))
          return notFound(req, res);
      } catch (err) {
        if (!isDatabaseUnavailable(err)) throw err;
        await ctx.spool.addOneClick(claims.contactId, claims.topic, origin(req), ctx.now());
        ctx.metrics.optOutsDeferred.inc({ path: 'one-click' });
      }
      res.status(200).type('text/plain').send('Unsubscribed.\n');
      return;
    }

    const found = await resolveUnsubscribe(ctx, tokenOf(req));
    if (!found) return notFound(req, res);
    const { contact, topic, topics } = found;
    const slug = topic.slug;

    const locale = localeFor(req, contact);
    if (!checkFormToken(keys, `u:${tokenOf(req)}`, field(req, 'csrf'), ctx.now())) {
      return messagePage(res, 403, locale, 'expiredFormTitle', 'expiredFormText');
    }
    const action = field(req, 'action');
    const csrf = formToken(keys, `u:${tokenOf(req)}`, ctx.now());
    const common = {
      token: tokenOf(req),
      csrf,
      email: maskEmail(contact.email),
      topic: { ...topicText(locale, topic), slug, kind: topic.kind },
      operational: operationalTopics(locale, topics),
      preferencesUrl: preferencesUrl('', keys, contact.id),
      reasons: FEEDBACK_REASONS,
      still: [] as { slug: string; name: string }[],
    };
    /** After a change: what still comes, each with its own button to leave it too. */
    const withStill = async () => {
      const now = await linkContact(ctx, contact.id);
      return {
        ...common,
        still: now ? stillComing(now, topics).map((t) => ({ slug: t.slug, ...topicText(locale, t) })) : [],
      };
    };

    if (action === 'topic' || action === 'all') {
      if (action === 'topic' && topic.kind !== 'marketing') {
        return messagePage(res, 400, locale, 'badFormTitle', 'operationalTopicLead');
      }
      const done = await unsubscribeByLink(ctx, origin(req), contact.id, action === 'topic' ? slug : null);
      return page(res, 'preferences/done', locale, 'doneTitle', {
        ...(await withStill()),
        state: 'unsubscribed',
        scope: action,
        undo: done.map(encodeChange),
      });
    }
    if (action === 'leave') {
      // "Leave this one too", from the list of what still comes: an email marketing topic only.
      const other = topics.find((t) => t.slug === field(req, 'topic'));
      if (other?.kind !== 'marketing' || !other.channels.includes('email')) {
        return messagePage(res, 400, locale, 'badFormTitle', 'expiredFormText');
      }
      const done = await unsubscribeByLink(ctx, origin(req), contact.id, other.slug);
      return page(res, 'preferences/done', locale, 'doneTitle', {
        ...(await withStill()),
        topic: { ...topicText(locale, other), slug: other.slug, kind: other.kind },
        state: 'unsubscribed',
        scope: 'topic',
        undo: done.map(encodeChange),
      });
    }
    if (action === 'resubscribe' && topic.kind === 'marketing') {
      const wasPaused = linkState(contact, slug, ctx.now()) === 'paused';
      await resubscribeByLink(ctx, origin(req), contact.id, slug);
      return page(res, 'preferences/done', locale, 'resubscribedTitle', {
        ...common,
        state: 'resubscribed',
        wasPaused,
      });
    }
    if (action === 'pause') {
      const days = Number(field(req, 'days'));
      if (!(PAUSE_DAYS as readonly number[]).includes(days)) {
        return messagePage(res, 400, locale, 'badFormTitle', 'expiredFormText');
      }
      const until = await pauseForDays(
        ctx,
        origin(req),
        contact.id,
        days as (typeof PAUSE_DAYS)[number],
        ctx.now(),
      );
      return page(res, 'preferences/done', locale, 'pausedTitle', {
        ...common,
        state: 'paused',
        pausedUntil: longDate(locale, until, contact.time_zone),
      });
    }
    if (action === 'undo') {
      const changes = fieldValues(req, 'undo').map(decodeChange);
      if (changes.some((c) => c === null) || changes.length > 20) {
        return messagePage(res, 400, locale, 'badFormTitle', 'expiredFormText');
      }
      await setPreferences(ctx, origin(req), contact.id, changes as PreferenceChange[], { via: 'undo' });
      return page(res, 'preferences/done', locale, 'undoneTitle', { ...common, state: 'undone' });
    }
    if (action === 'feedback') {
      const reason = field(req, 'reason');
      if (reason && (FEEDBACK_REASONS as readonly string[]).includes(reason)) {
        await recordFeedback(ctx, origin(req), contact.id, reason as FeedbackReason, slug);
      }
      return page(res, 'preferences/done', locale, 'thanksTitle', { ...common, state: 'thanks' });
    }
    return messagePage(res, 400, locale, 'badFormTitle', 'expiredFormText');
  });

  // ---- / (what this is, and "email me my link") -----------------------------------------

  r.get('/', pageLimit, (req, res) => {
    const locale = localeFor(req);
    page(res, 'preferences/request', locale, 'homeTitle', {
      title: format(strings(locale).homeTitle, { brand: (res.locals.brand as Brand).name }),
      csrf: formToken(keys, 'request-link', ctx.now()),
      state: 'form',
      value: '',
      home: true,
    });
  });

  // ---- /preferences (email me my link) ---------------------------------------------------

  r.get('/preferences', pageLimit, (req, res) => {
    page(res, 'preferences/request', localeFor(req), 'requestTitle', {
      csrf: formToken(keys, 'request-link', ctx.now()),
      state: 'form',
      value: '',
    });
  });

  r.post('/preferences', ...postGuards, async (req, res) => {
    const locale = localeFor(req);
    if (!checkFormToken(keys, 'request-link', field(req, 'csrf'), ctx.now())) {
      return messagePage(res, 403, locale, 'expiredFormTitle', 'expiredFormText');
    }
    const raw = field(req, 'email') ?? '';
    const email = cleanEmail(raw);
    if (!email.ok) {
      res.status(400);
      return page(res, 'preferences/request', locale, 'requestTitle', {
        csrf: formToken(keys, 'request-link', ctx.now()),
        state: 'form',
        value: raw.slice(0, 320),
        error: strings(locale).requestBadEmail,
      });
    }
    // Limits apply only to well-formed requests, so a typo does not use up a person's tries.
    linkByIp(req, res, () =>
      linkByAddress(req, res, () => {
        // The page is the same, and as fast, for every address: the mail goes out after the
        // answer, so neither the text nor the timing tells whether we know the address.
        page(res, 'preferences/request', locale, 'requestSentTitle', { state: 'sent', email: email.email });
        queuePreferencesLink(ctx, ctx.jobs, email.email, locale).catch((err) =>
          ctx.logger.error({ err }, 'could not queue a preferences link'),
        );
      }),
    );
  });

  // ---- /preferences/{token} --------------------------------------------------------------

  r.get('/preferences/:token', pageLimit, async (req, res) => {
    const found = await resolve(ctx, tokenOf(req), 'preferences');
    if (!found) return notFound(req, res);
    const { contact } = found;
    const locale = localeFor(req, contact);
    const topics = await cachedTopics(ctx);
    const view = preferencesView(topics, contact.preferences);
    const channels = channelsFor(contact);
    const saved = typeof req.query.saved === 'string' ? req.query.saved : undefined;
    const signed = contact.agreement === 'signed';
    const consentMsg =
      typeof req.query.consent === 'string' && CONSENT_MESSAGES.includes(req.query.consent)
        ? req.query.consent
        : null;
    page(
      res,
      'preferences/preferences',
      locale,
      'prefsTitle',
      {
        token: personal(tokenOf(req)),
        csrf: personal(formToken(keys, `p:${tokenOf(req)}`, ctx.now())),
        email: personal(maskEmail(contact.email)),
        name: contact.name ? personal(contact.name) : null,
        signed,
        phone: signed
          ? {
              last4: contact.phone ? personal(contact.phone.slice(-4)) : null,
              state: await phoneConsentState(ctx, contact.id, contact.phone),
              disclosures: {
                sms: await currentDisclosure(ctx, 'sms', contact.locale),
                voice: await currentDisclosure(ctx, 'voice', contact.locale),
              },
              dateFormat: new Intl.DateTimeFormat(locale, { dateStyle: 'long' }),
            }
          : null,
        consentMsg,
        details: {
          name: personal(contact.name),
          locale: supportedLocale(contact.locale) ?? '',
          timeZone: personal(contact.time_zone),
        },
        pause: {
          until:
            contact.paused_until && new Date(contact.paused_until).getTime() > ctx.now().getTime()
              ? personal(longDate(locale, contact.paused_until, contact.time_zone))
              : null,
          days: PAUSE_DAYS,
        },
        receipts: signed
          ? (await consentHistory(ctx, contact.id)).map((c) => ({
              id: personal(c.id),
              channel: c.channel,
              status: c.status,
              date: personal(longDate(locale, c.capturedAt, contact.time_zone)),
            }))
          : [],
        was: channels.flatMap((channel) => [
          encodeChange({
            channel,
            topic: null,
            from: view[channel].allMarketing,
            status: view[channel].allMarketing,
          }),
          ...Object.entries(view[channel].topics).map(([topic, status]) =>
            encodeChange({ channel, topic, from: status, status }),
          ),
        ]),
        channels: channels.map((channel) => ({
          channel,
          allMarketing: view[channel].allMarketing,
          topics: topics
            .filter((t) => t.kind === 'marketing' && t.channels.includes(channel))
            .map((t) => ({ slug: t.slug, ...topicText(locale, t), status: view[channel].topics[t.slug] })),
        })),
        operational: topics
          .filter((t) => t.kind === 'operational')
          .map((t) => ({ ...topicText(locale, t), channels: t.channels })),
        saved: saved === '0' ? 'nothing' : saved ? 'saved' : null,
      },
      true,
    );
  });

  r.post('/preferences/:token', ...postGuards, async (req, res) => {
    const found = await resolve(ctx, tokenOf(req), 'preferences');
    if (!found) return notFound(req, res);
    const { contact } = found;
    const locale = localeFor(req, contact);
    if (!checkFormToken(keys, `p:${tokenOf(req)}`, field(req, 'csrf'), ctx.now())) {
      return messagePage(res, 403, locale, 'expiredFormTitle', 'expiredFormText');
    }
    const topics = await listTopics(ctx);
    // Only the channels the form showed are read: unticked boxes are absent from a form
    // post, so a channel the page did not show must not read as "everything off".
    const shown = new Set(fieldValues(req, 'channels'));
    const ticked = new Set(fieldValues(req, 'topic'));
    const submitted: PreferenceChange[] = [];
    for (const channel of channelsFor(contact)) {
      if (!shown.has(channel)) continue;
      const all = field(req, `all:${channel}`);
      if (all === 'subscribed' || all === 'unsubscribed')
        submitted.push({ channel, topic: null, status: all });
      for (const t of topics) {
        if (t.kind !== 'marketing' || !t.channels.includes(channel)) continue;
        submitted.push({
          channel,
          topic: t.slug,
          status: ticked.has(`${channel}:${t.slug}`) ? 'subscribed' : 'unsubscribed',
        });
      }
    }
    // What the page showed rides along in the form: only what the person changed on it is
    // applied, so an opt-out made elsewhere since (one-click, STOP) is never undone by it. The
    // same holds for the details and the pause: a field is applied only if it differs from
    // what the page showed.
    const changes = changedOnPage(submitted, fieldValues(req, 'was'));
    const details: ContactPatch = {};
    const changedField = (name: string) => {
      const v = field(req, name);
      return v !== undefined && v.trim() !== (field(req, `was:${name}`) ?? '').trim() ? v.trim() : undefined;
    };
    const name = changedField('name');
    if (name !== undefined) details.name = name.slice(0, 200) || null;
    const lang = changedField('locale');
    if (lang !== undefined) details.locale = supportedLocale(lang) ?? null;
    const zone = changedField('timeZone');
    if (zone !== undefined) {
      if (zone && !isTimeZone(zone)) return messagePage(res, 400, locale, 'badFormTitle', 'badTimeZone');
      details.timeZone = zone || null;
    }
    const pauseChoice = field(req, 'pause');
    let pause: Date | null | undefined;
    if (pauseChoice && pauseChoice !== field(req, 'was:pause')) {
      if (pauseChoice === 'none' || pauseChoice === 'end') pause = null;
      else if (pauseChoice !== 'keep') {
        const days = Number(pauseChoice);
        if (!(PAUSE_DAYS as readonly number[]).includes(days))
          return messagePage(res, 400, locale, 'badFormTitle', 'expiredFormText');
        pause = new Date(ctx.now().getTime() + days * 24 * 3600_000);
      }
    }
    const done = await savePreferencePage(ctx, origin(req), contact.id, {
      changes,
      details,
      pause,
      pauseShown: field(req, 'was:pause') === 'keep',
    });
    // Then the phone part of the same form: everything the person changed is kept either way.
    const next = await phoneStep(req, contact);
    const saved = next ?? `/preferences/${tokenOf(req)}?saved=${done}`;
    res.redirect(303, chosenLocale(req) && !next ? `${saved}&lang=${chosenLocale(req)}` : saved);
  });

  // Phone consent (signed customers only): separate unticked boxes per channel, the exact
  // disclosure version shown is posted back and recorded with the IP and user agent.
  /**
   * The phone part of the preference form: a revoke button pressed, or consent boxes ticked (the
   * number is confirmed first: a code is texted to it, and consent is recorded once the person
   * types it back; whether the number belongs to someone else is never said). Answers where to
   * go next, or null when the form asked nothing of the phone part.
   */
  async function phoneStep(req: Request, contact: LinkContact): Promise<string | null> {
    const back = (msg: string) => `/preferences/${tokenOf(req)}?consent=${msg}#phone`;
    const revoke = field(req, 'revoke');
    if (revoke !== undefined) {
      // Revoking never needs a signed agreement: anyone may always say stop.
      if (contact.phone && (revoke === 'sms' || revoke === 'voice'))
        await revokeConsent(ctx, originOf(req, 'recipient'), contact.id, contact.phone, [revoke], 'web_form');
      return back('revoked');
    }
    const channels = PHONE_CHANNELS.filter((c) => fieldValues(req, 'consent').includes(c));
    if (!channels.length) return field(req, 'intent') === 'consent' ? back('none') : null;
    if (contact.agreement !== 'signed') return back('not_signed');
    const typed = (field(req, 'phone') ?? '').trim();
    const phone = typed ? parsePhone(typed, ctx.config.defaultPhoneRegion) : null;
    if ((typed && !phone?.ok) || (!typed && !contact.phone)) return back('phone_invalid');
    const e164 = phone?.ok ? phone.e164 : (contact.phone as string);
    const versions: Partial<Record<PhoneChannel, number>> = {};
    for (const c of channels) {
      const v = parseWhole(field(req, `disclosure:${c}`), 1, 1_000_000);
      if (v === null) throw new DomainError('validation_failed', 'The consent form is not valid.');
      versions[c] = v;
    }
    const started = await startConfirmation(
      ctx,
      ctx.texter,
      {
        contactId: contact.id,
        phone: e164,
        channels,
        versions,
        locale: contact.locale,
        ip: req.ip ?? null,
        userAgent: req.get('user-agent') ?? null,
      },
      ctx.now(),
    );
    if (!started.ok) return back(started.reason);
    return `/preferences/${tokenOf(req)}/confirm-phone/${started.id}`;
  }

  // Pages shown before the phone part joined the one form post here.
  r.post('/preferences/:token/consent', ...postGuards, async (req, res) => {
    const found = await resolve(ctx, tokenOf(req), 'preferences');
    if (!found) return notFound(req, res);
    if (!checkFormToken(keys, `p:${tokenOf(req)}`, field(req, 'csrf'), ctx.now())) {
      return messagePage(res, 403, localeFor(req, found.contact), 'expiredFormTitle', 'expiredFormText');
    }
    res.redirect(
      303,
      (await phoneStep(req, found.contact)) ?? `/preferences/${tokenOf(req)}?consent=none#phone`,
    );
  });

  const confirmPage = async (
    req: Request,
    res: Response,
    contact: LinkContact,
    status = 200,
    error = false,
  ) => {
    const pending = await pendingConfirmation(ctx, contact.id, String(req.params.id));
    if (!pending) return res.redirect(303, `/preferences/${tokenOf(req)}?consent=expired#phone`);
    res.status(status);
    page(res, 'preferences/confirm-phone', localeFor(req, contact), 'confirmTitle', {
      token: tokenOf(req),
      id: String(req.params.id),
      csrf: formToken(keys, `p:${tokenOf(req)}`, ctx.now()),
      last4: pending.phone.slice(-4),
      error,
    });
  };

  r.get('/preferences/:token/confirm-phone/:id', pageLimit, async (req, res) => {
    const found = await resolve(ctx, tokenOf(req), 'preferences');
    if (!found) return notFound(req, res);
    await confirmPage(req, res, found.contact);
  });

  r.post('/preferences/:token/confirm-phone/:id', ...postGuards, async (req, res) => {
    const found = await resolve(ctx, tokenOf(req), 'preferences');
    if (!found) return notFound(req, res);
    const { contact } = found;
    if (!checkFormToken(keys, `p:${tokenOf(req)}`, field(req, 'csrf'), ctx.now())) {
      return messagePage(res, 403, localeFor(req, contact), 'expiredFormTitle', 'expiredFormText');
    }
    const back = (msg: string) => res.redirect(303, `/preferences/${tokenOf(req)}?consent=${msg}#phone`);
    let result: Awaited<ReturnType<typeof confirmCode>>;
    try {
      result = await confirmCode(
        ctx,
        origin(req),
        { contactId: contact.id, id: String(req.params.id), code: field(req, 'code') ?? '', jobs: ctx.jobs },
        ctx.now(),
      );
    } catch (err) {
      if (err instanceof DomainError && err.code === 'conflict') return back('not_signed');
      throw err;
    }
    if (result.ok) return back('granted');
    if (result.reason === 'wrong') return confirmPage(req, res, contact, 400, true);
    return back(result.reason === 'too_many_tries' ? 'too_many' : 'expired');
  });

  r.post('/preferences/:token/consent/revoke', ...postGuards, async (req, res) => {
    const found = await resolve(ctx, tokenOf(req), 'preferences');
    if (!found) return notFound(req, res);
    if (!checkFormToken(keys, `p:${tokenOf(req)}`, field(req, 'csrf'), ctx.now())) {
      return messagePage(res, 403, localeFor(req, found.contact), 'expiredFormTitle', 'expiredFormText');
    }
    req.body.revoke = field(req, 'channel') ?? '';
    res.redirect(303, (await phoneStep(req, found.contact)) as string);
  });

  // A consent's receipt (Kantara v1.1), for the person it belongs to.
  r.get('/preferences/:token/consents/:id/receipt', pageLimit, async (req, res) => {
    const found = await resolve(ctx, tokenOf(req), 'preferences');
    const id = String(req.params.id);
    if (!found || !/^[0-9a-f-]{36}$/i.test(id)) return notFound(req, res);
    const receipt = await consentReceipt(ctx, found.contact.email, id).catch((err) => {
      if (err instanceof DomainError && err.code === 'not_found') return null;
      throw err;
    });
    if (!receipt) return notFound(req, res);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Disposition', `attachment; filename="consent-receipt-${id}.json"`);
    res.type('application/json').send(JSON.stringify(receipt, null, 2));
  });

  // ---- data requests: a copy of one's data, or deletion ------------------------------------

  for (const kind of ['export', 'deletion'] as const) {
    r.post(`/preferences/:token/data/${kind}`, ...postGuards, async (req, res) => {
      const found = await resolve(ctx, tokenOf(req), 'preferences');
      if (!found) return notFound(req, res);
      const locale = localeFor(req, found.contact);
      if (!checkFormToken(keys, `p:${tokenOf(req)}`, field(req, 'csrf'), ctx.now())) {
        return messagePage(res, 403, locale, 'expiredFormTitle', 'expiredFormText');
      }
      await openDataRequest(ctx, ctx.jobs, origin(req), found.contact.id, kind, locale);
      const t = strings(locale);
      page(res, 'preferences/message', locale, 'dataSentTitle', {
        text: format(kind === 'export' ? t.dataSentText : t.dataDeleteSentText, {
          email: maskEmail(found.contact.email),
        }),
      });
    });
  }

  // The mailed link opens a page; only its button acts (mail scanners fetch links).
  r.get('/data/:token', pageLimit, async (req, res) => {
    const found = await requestForLink(ctx, tokenOf(req), ctx.now());
    const locale = localeFor(req);
    if (!found) return notFound(req, res);
    if (found.expired)
      return messagePage(res, 410, locale, 'dataExpiredTitle', 'dataExpiredText', { askNewLink: true });
    const t = strings(locale);
    const brand = (res.locals.brand as Brand).name;
    const { row } = found;
    const common = { token: tokenOf(req), csrf: formToken(keys, `d:${tokenOf(req)}`, ctx.now()) };
    if (row.kind === 'export')
      return page(res, 'preferences/data', locale, 'dataDownloadTitle', {
        ...common,
        lead: format(t.dataDownloadLead, { brand }),
        action: 'download',
        button: t.dataDownloadButton,
      });
    if (row.status === 'awaiting_confirmation')
      return page(res, 'preferences/data', locale, 'dataConfirmTitle', {
        ...common,
        lead: format(t.dataConfirmLead, { brand }),
        action: 'confirm',
        button: t.dataConfirmButton,
      });
    if (row.status === 'pending')
      return page(res, 'preferences/message', locale, 'dataPendingTitle', {
        text: format(t.dataPendingText, { brand, date: longDate(locale, row.due_at, null) }),
      });
    page(res, 'preferences/message', locale, 'dataDoneTitle', {
      text:
        row.status === 'approved'
          ? t.dataApprovedText
          : format(t.dataDeclinedText, { brand, reason: row.reason ?? '' }),
    });
  });

  r.post('/data/:token', ...postGuards, async (req, res) => {
    const locale = localeFor(req);
    if (!checkFormToken(keys, `d:${tokenOf(req)}`, field(req, 'csrf'), ctx.now())) {
      return messagePage(res, 403, locale, 'expiredFormTitle', 'expiredFormText');
    }
    if (field(req, 'action') === 'download') {
      const doc = await exportForLink(ctx, tokenOf(req), ctx.now());
      if (!doc)
        return messagePage(res, 410, locale, 'dataExpiredTitle', 'dataExpiredText', { askNewLink: true });
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Content-Disposition', 'attachment; filename="my-data.json"');
      res.type('application/json').send(JSON.stringify(doc, null, 2));
      return;
    }
    if (field(req, 'action') === 'confirm') {
      const done = await confirmDeletion(ctx, originOf(req, 'recipient'), tokenOf(req), ctx.now());
      if (!done)
        return messagePage(res, 410, locale, 'dataExpiredTitle', 'dataExpiredText', { askNewLink: true });
      const t = strings(locale);
      return page(res, 'preferences/message', locale, 'dataPendingTitle', {
        text: format(t.dataPendingText, {
          brand: (res.locals.brand as Brand).name,
          date: longDate(locale, done.due_at, null),
        }),
      });
    }
    return messagePage(res, 400, locale, 'badFormTitle', 'expiredFormText');
  });

  return r;
}
