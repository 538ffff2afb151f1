// Consent API (scope `contacts`): record, revoke and read a contact's phone consents.

import { Router } from 'express';
import { body } from 'express-validator';
import type { AppContext } from '../app.ts';
import { parsePhone } from '../contacts/phone.ts';
import { cleanEmail } from '../contacts/rules.ts';
import { requireContact } from '../contacts/service.ts';
import { PHONE_CHANNELS, type PhoneChannel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { apiOrigin } from '../http/origin.ts';
import {
  INSTANT_MESSAGE,
  onlyFields,
  parseInstant,
  parseWhole,
  requireObjectBody,
  validate,
} from '../http/validate.ts';
import {
  CONSENT_METHODS,
  type ConsentMethod,
  consentHistory,
  grantConsent,
  revokeConsent,
} from './service.ts';

const channelsField = body('channels')
  .isArray({ min: 1, max: 2 })
  .withMessage('an array of "sms", "voice" or both')
  .bail()
  .custom(
    (v: unknown[]) =>
      v.every((c) => (PHONE_CHANNELS as readonly unknown[]).includes(c)) && new Set(v).size === v.length,
  )
  .withMessage('each channel is "sms" or "voice", at most once');

export function consentRoutes(ctx: AppContext) {
  const r = Router();
  const scope = ctx.apiAuth.require('contacts');
  const emailOf = (raw: unknown) => {
    const e = cleanEmail(raw);
    if (!e.ok)
      throw new DomainError('validation_failed', `The address in the URL is not valid: ${e.reason}.`, [
        { field: 'email', message: e.reason },
      ]);
    return e.email;
  };
  const phoneOf = (raw: unknown) => {
    const p = parsePhone(raw, ctx.config.defaultPhoneRegion);
    if (!p.ok)
      throw new DomainError('validation_failed', `The phone number is not valid: ${p.reason}.`, [
        { field: 'phone', message: p.reason },
      ]);
    return p.e164;
  };

  r.post(
    '/v1/contacts/:email/consents',
    scope,
    requireObjectBody,
    validate(
      [
        onlyFields([
          'phone',
          'channels',
          'method',
          'disclosureVersion',
          'capturedAt',
          'ip',
          'userAgent',
          'note',
        ]),
        body('phone').isString().withMessage('a phone number'),
        channelsField,
        body('method')
          .isIn(CONSENT_METHODS as unknown as string[])
          .withMessage(`one of ${CONSENT_METHODS.join(', ')}`),
        body('disclosureVersion')
          .custom((v) => parseWhole(v, 1, 1_000_000) !== null)
          .withMessage('the version of the disclosure text that was shown (an integer from 1)'),
        body('capturedAt')
          .custom((v) => parseInstant(v) !== null)
          .withMessage(`when consent was given: ${INSTANT_MESSAGE}`)
          .bail()
          .custom((v) => (parseInstant(v) as Date).getTime() <= Date.now() + 5 * 60_000)
          .withMessage('cannot be in the future'),
        body('ip')
          .if(body('method').equals('web_form'))
          .isIP()
          .withMessage('the IP address of the person, required for web_form consent'),
        body('ip').optional({ values: 'null' }).isIP().withMessage('an IP address'),
        body('userAgent')
          .if(body('method').equals('web_form'))
          .isString()
          .isLength({ min: 1, max: 1000 })
          .withMessage('the browser user agent, required for web_form consent'),
        body('userAgent')
          .optional({ values: 'null' })
          .isString()
          .isLength({ max: 1000 })
          .withMessage('at most 1000 characters'),
        body('note')
          .if(body('method').isIn(['verbal', 'written_agreement']))
          .isString()
          .trim()
          .isLength({ min: 3, max: 2000 })
          .withMessage('who took the consent and how, required for verbal and written_agreement'),
        body('note')
          .optional({ values: 'null' })
          .isString()
          .isLength({ max: 2000 })
          .withMessage('at most 2000 characters'),
      ],
      'The consent is not valid.',
    ),
    async (req, res) => {
      const contact = await requireContact(ctx.db.knex, emailOf(req.params.email));
      const b = req.body as {
        phone: string;
        channels: PhoneChannel[];
        method: ConsentMethod;
        disclosureVersion: number;
        capturedAt: string;
        ip?: string;
        userAgent?: string;
        note?: string;
      };
      const phone = phoneOf(b.phone);
      const version = Number(b.disclosureVersion);
      const granted = await grantConsent(
        ctx,
        apiOrigin(req),
        contact.id,
        {
          phone,
          channels: b.channels,
          method: b.method,
          disclosureVersions: { sms: version, voice: version },
          capturedAt: parseInstant(b.capturedAt) as Date,
          ip: b.ip ?? null,
          userAgent: b.userAgent ?? null,
          note: b.note ?? null,
          locale: contact.locale,
        },
        { jobs: ctx.jobs },
      );
      res.status(201).json({
        phone,
        granted: granted.map((g) => g.channel),
        consents: await consentHistory(ctx.db.knex, contact.id),
      });
    },
  );

  r.post(
    '/v1/contacts/:email/consents/revoke',
    scope,
    requireObjectBody,
    validate(
      [
        onlyFields(['phone', 'channels']),
        body('phone').isString().withMessage('a phone number'),
        channelsField,
      ],
      'The revocation is not valid.',
    ),
    async (req, res) => {
      const contact = await requireContact(ctx.db.knex, emailOf(req.params.email));
      const b = req.body as { phone: string; channels: PhoneChannel[] };
      const phone = phoneOf(b.phone);
      const revoked = await revokeConsent(ctx, apiOrigin(req), contact.id, phone, b.channels, 'api');
      res.json({ phone, revoked, consents: await consentHistory(ctx.db.knex, contact.id) });
    },
  );

  r.get('/v1/contacts/:email/consents', scope, async (req, res) => {
    const contact = await requireContact(ctx.db.knex, emailOf(req.params.email));
    res.json({ consents: await consentHistory(ctx.db.knex, contact.id) });
  });

  return r;
}
