// Contacts, accounts and topics API (scope `contacts`; topics readable with any key).

import { type Request, Router } from 'express';
import { body } from 'express-validator';
import type { AppContext } from '../app.ts';
import { AGREEMENT_STATUSES, CHANNELS, isChannel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { apiOrigin } from '../http/origin.ts';
import { INSTANT_MESSAGE, onlyFields, parseInstant, requireObjectBody, validate } from '../http/validate.ts';
import { listTopics, topicJson } from '../preferences/topics.ts';
import { parsePhone } from './phone.ts';
import { cleanEmail, cleanLocale, cleanRegion, isTimeZone, MAX_NAME } from './rules.ts';
import {
  type AccountPatch,
  accountJson,
  type ContactPatch,
  contactView,
  eraseContact,
  requireContact,
  unsubscribeContact,
  upsertAccount,
  upsertContact,
} from './service.ts';

const nullableText = (field: string, max: number) =>
  body(field)
    .optional({ values: 'undefined' })
    .custom((v) => v === null || (typeof v === 'string' && v.length <= max))
    .withMessage(`a string of at most ${max} characters, or null to clear`);

function emailParam(req: Request): string {
  const r = cleanEmail(req.params.email);
  if (!r.ok)
    throw new DomainError('validation_failed', `The address in the URL is not valid: ${r.reason}.`, [
      { field: 'email', message: r.reason },
    ]);
  return r.email;
}

export function contactRoutes(ctx: AppContext) {
  const r = Router();
  const contactsScope = ctx.apiAuth.require('contacts');

  r.get('/v1/topics', ctx.apiAuth.requireAny(), async (_req, res) => {
    res.json({ topics: (await listTopics(ctx.db.knex)).map(topicJson) });
  });

  r.put(
    '/v1/accounts/:externalId',
    contactsScope,
    requireObjectBody,
    validate(
      [
        onlyFields(['name', 'agreement']),
        nullableText('name', MAX_NAME),
        body('agreement').optional().isObject().withMessage('an object {status, signedAt, reference}'),
        body('agreement.status')
          .if(body('agreement').exists())
          .isIn(AGREEMENT_STATUSES as unknown as string[])
          .withMessage('one of none, signed, terminated'),
        body('agreement.signedAt')
          .optional({ values: 'null' })
          .custom((v) => parseInstant(v) !== null)
          .withMessage(INSTANT_MESSAGE),
        nullableText('agreement.reference', 200),
      ],
      'The account is not valid.',
    ),
    async (req, res) => {
      const externalId = req.params.externalId as string;
      if (externalId.length > 200)
        throw new DomainError('validation_failed', 'externalId is at most 200 characters.');
      const b = req.body;
      const patch: AccountPatch = {};
      if (b.name !== undefined) patch.name = b.name;
      if (b.agreement) {
        patch.agreement = { status: b.agreement.status };
        if (b.agreement.signedAt !== undefined) {
          patch.agreement.signedAt =
            b.agreement.signedAt === null ? null : parseInstant(b.agreement.signedAt);
        }
        if (b.agreement.reference !== undefined) patch.agreement.reference = b.agreement.reference;
      }
      const { account, created } = await upsertAccount(ctx, apiOrigin(req), externalId, patch);
      res.status(created ? 201 : 200).json(accountJson(account));
    },
  );

  r.put(
    '/v1/contacts/:email',
    contactsScope,
    requireObjectBody,
    validate(
      [
        onlyFields(['name', 'phone', 'accountExternalId', 'locale', 'timeZone', 'region']),
        nullableText('name', MAX_NAME),
        nullableText('phone', 40),
        nullableText('accountExternalId', 200),
        body('locale')
          .optional({ values: 'null' })
          .custom((v) => typeof v === 'string' && cleanLocale(v) !== null)
          .withMessage('a language tag such as en, es or en-GB'),
        body('timeZone')
          .optional({ values: 'null' })
          .custom((v) => typeof v === 'string' && isTimeZone(v))
          .withMessage('an IANA time zone such as America/New_York'),
        body('region')
          .optional({ values: 'null' })
          .custom((v) => typeof v === 'string' && cleanRegion(v) !== null)
          .withMessage('an ISO 3166-2 region such as US-FL (the state the person lives in)'),
      ],
      'The contact is not valid.',
    ),
    async (req, res) => {
      const email = emailParam(req);
      const b = req.body;
      const patch: ContactPatch = {};
      if (b.name !== undefined) patch.name = b.name;
      if (b.accountExternalId !== undefined) patch.accountExternalId = b.accountExternalId;
      if (b.locale !== undefined) patch.locale = b.locale === null ? null : cleanLocale(b.locale);
      if (b.timeZone !== undefined) patch.timeZone = b.timeZone;
      if (b.region !== undefined) patch.region = b.region === null ? null : cleanRegion(b.region);
      if (b.phone !== undefined) {
        if (b.phone === null) patch.phone = null;
        else {
          const p = parsePhone(b.phone, ctx.config.defaultPhoneRegion);
          if (!p.ok)
            throw new DomainError('validation_failed', `The phone number is not valid: ${p.reason}.`, [
              { field: 'phone', message: p.reason },
            ]);
          patch.phone = p.e164;
        }
      }
      const { contact, created } = await upsertContact(ctx, apiOrigin(req), email, patch);
      res.status(created ? 201 : 200).json(await contactView(ctx, contact));
    },
  );

  r.get('/v1/contacts/:email', contactsScope, async (req, res) => {
    const contact = await requireContact(ctx.db.knex, emailParam(req));
    res.json(await contactView(ctx, contact));
  });

  r.delete('/v1/contacts/:email', contactsScope, async (req, res) => {
    await eraseContact(ctx, apiOrigin(req), emailParam(req));
    res.status(204).end();
  });

  r.post(
    '/v1/contacts/:email/unsubscribe',
    contactsScope,
    validate(
      [
        onlyFields(['topic', 'channel']),
        body('topic').optional().isString().withMessage('a topic slug'),
        body('channel')
          .optional()
          .custom((v) => isChannel(v))
          .withMessage(`one of ${CHANNELS.join(', ')}`),
      ],
      'The unsubscribe request is not valid.',
    ),
    async (req, res) => {
      const email = emailParam(req);
      const { topic, channel } = (req.body ?? {}) as { topic?: string; channel?: (typeof CHANNELS)[number] };
      const changes = await unsubscribeContact(ctx, apiOrigin(req), email, { topic, channel });
      const contact = await requireContact(ctx.db.knex, email);
      const view = await contactView(ctx, contact);
      res.json({
        changed: changes.map((c) => ({ channel: c.channel, topic: c.topic, from: c.from, to: c.status })),
        preferences: view.preferences,
      });
    },
  );

  return r;
}
