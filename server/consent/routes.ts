// Consent API (scope `contacts`): record, revoke and read a contact's phone consents.

import { body } from 'express-validator';
import type { AppContext } from '../app.ts';
import { parsePhone } from '../contacts/service.ts';
import { PHONE_CHANNELS, type PhoneChannel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { consentExample, emailParam, errorResponse, json, ref } from '../http/openapi.ts';
import { apiOrigin } from '../http/origin.ts';
import { emailFromPath } from '../http/params.ts';
import type { ApiRoute } from '../http/route-table.ts';
import { INSTANT_MESSAGE, onlyFields, parseInstant, parseWhole } from '../http/validate.ts';
import {
  CONSENT_METHODS,
  type ConsentMethod,
  consentReceipt,
  consentsByEmail,
  grantConsentByEmail,
  revokeConsentByEmail,
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

export function consentApi(ctx: AppContext): ApiRoute[] {
  const phoneOf = (raw: unknown) => {
    const p = parsePhone(raw, ctx.config.defaultPhoneRegion);
    if (!p.ok)
      throw new DomainError('validation_failed', `The phone number is not valid: ${p.reason}.`, [
        { field: 'phone', message: p.reason },
      ]);
    return p.e164;
  };

  return [
    {
      method: 'post',
      path: '/v1/contacts/{email}/consents',
      operationId: 'grantConsent',
      tag: 'Consent',
      scope: 'contacts',
      body: 'json',
      errors: ['not_found', 'conflict'],
      doc: {
        summary:
          'Record consent to be texted and/or called at a number, with its evidence (scope: contacts). Only for contacts of accounts with a signed agreement (else 409).',
        parameters: [emailParam],
        requestBody: {
          required: true,
          content: json(
            {
              type: 'object',
              required: ['phone', 'channels', 'method', 'disclosureVersion', 'capturedAt'],
              additionalProperties: false,
              properties: {
                phone: {
                  type: 'string',
                  description: 'Any common format; national numbers read in DEFAULT_PHONE_REGION',
                },
                channels: { type: 'array', minItems: 1, maxItems: 2, items: { enum: ['sms', 'voice'] } },
                method: { enum: ['web_form', 'written_agreement', 'verbal', 'sms_keyword', 'api'] },
                disclosureVersion: { type: 'integer', minimum: 1 },
                capturedAt: { type: 'string', format: 'date-time' },
                ip: { type: ['string', 'null'], description: 'Required for web_form' },
                userAgent: { type: ['string', 'null'], description: 'Required for web_form' },
                note: {
                  type: ['string', 'null'],
                  description: 'Required for verbal and written_agreement',
                },
              },
            },
            {
              phone: '(415) 555-2671',
              channels: ['sms'],
              method: 'web_form',
              disclosureVersion: 1,
              capturedAt: '2026-11-25T10:00:00Z',
              ip: '203.0.113.7',
              userAgent: 'Mozilla/5.0',
            },
          ),
        },
        responses: {
          '201': {
            description: 'Recorded; the contact now holds this number. The full consent history follows.',
            content: json(ref('ConsentHistory'), {
              phone: '+14155552671',
              granted: ['sms'],
              consents: [consentExample],
            }),
          },
          '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
          '409': errorResponse(
            'The account has no signed agreement, or another contact holds the number',
            'conflict',
            "This contact's account has no signed agreement: only signed customers may be called or texted, so no consent was recorded.",
          ),
        },
      },
      input: [
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
      invalid: 'The consent is not valid.',
      handler: async (req, res) => {
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
        const { granted, consents } = await grantConsentByEmail(
          ctx,
          apiOrigin(req),
          emailFromPath(req.params.email),
          {
            phone,
            channels: b.channels,
            method: b.method,
            disclosureVersions: { sms: version, voice: version },
            capturedAt: parseInstant(b.capturedAt) as Date,
            ip: b.ip ?? null,
            userAgent: b.userAgent ?? null,
            note: b.note ?? null,
          },
          { jobs: ctx.jobs },
        );
        res.status(201).json({
          phone,
          granted: granted.map((g) => g.channel),
          consents,
        });
      },
    },
    {
      method: 'post',
      path: '/v1/contacts/{email}/consents/revoke',
      operationId: 'revokeConsent',
      tag: 'Consent',
      scope: 'contacts',
      body: 'json',
      errors: ['not_found'],
      doc: {
        summary: 'Revoke consent for a number on channels; takes effect for the next check (scope: contacts)',
        parameters: [emailParam],
        requestBody: {
          required: true,
          content: json(
            {
              type: 'object',
              required: ['phone', 'channels'],
              additionalProperties: false,
              properties: {
                phone: { type: 'string' },
                channels: { type: 'array', minItems: 1, maxItems: 2, items: { enum: ['sms', 'voice'] } },
              },
            },
            { phone: '+14155552671', channels: ['sms', 'voice'] },
          ),
        },
        responses: {
          '200': {
            description: 'The channels revoked now (empty when none was granted) and the history',
            content: json(ref('ConsentHistory'), {
              phone: '+14155552671',
              revoked: ['sms'],
              consents: [
                {
                  ...consentExample,
                  status: 'revoked',
                  revokedAt: '2026-11-26T09:00:00.000Z',
                  revokedBy: 'apikey:1f0e',
                  revokedMethod: 'api',
                },
              ],
            }),
          },
          '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
        },
      },
      input: [
        onlyFields(['phone', 'channels']),
        body('phone').isString().withMessage('a phone number'),
        channelsField,
      ],
      invalid: 'The revocation is not valid.',
      handler: async (req, res) => {
        const b = req.body as { phone: string; channels: PhoneChannel[] };
        const phone = phoneOf(b.phone);
        const email = emailFromPath(req.params.email);
        const { revoked, consents } = await revokeConsentByEmail(
          ctx,
          apiOrigin(req),
          email,
          phone,
          b.channels,
        );
        res.json({ phone, revoked, consents });
      },
    },
    {
      method: 'get',
      path: '/v1/contacts/{email}/consents',
      operationId: 'listConsents',
      tag: 'Consent',
      scope: 'contacts',
      errors: ['not_found'],
      doc: {
        summary: 'Every consent record of a contact with its evidence, oldest first (scope: contacts)',
        parameters: [emailParam],
        responses: {
          '200': {
            description: 'The history',
            content: json(ref('ConsentHistory'), { consents: [consentExample] }),
          },
          '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
        },
      },
      handler: async (req, res) => {
        res.json({ consents: await consentsByEmail(ctx, emailFromPath(req.params.email)) });
      },
    },
    {
      method: 'get',
      path: '/v1/contacts/{email}/consents/{id}/receipt',
      operationId: 'consentReceipt',
      tag: 'Consent',
      scope: 'contacts',
      errors: ['not_found'],
      doc: {
        summary: 'A consent record as a Kantara Consent Receipt v1.1 (scope: contacts)',
        parameters: [
          emailParam,
          {
            name: 'id',
            in: 'path',
            required: true,
            description: 'The consent id',
            schema: { type: 'string', format: 'uuid' },
          },
        ],
        responses: { '200': { description: 'The receipt', content: json(ref('ConsentReceipt')) } },
      },
      handler: async (req, res) => {
        const id = String(req.params.id);
        if (!/^[0-9a-f-]{36}$/i.test(id))
          throw new DomainError('not_found', 'No consent with this id for this contact.');
        res.json(await consentReceipt(ctx, emailFromPath(req.params.email), id));
      },
    },
  ];
}
