// Contacts, accounts and topics API (scope `contacts`; topics readable with any key).

import { body } from 'express-validator';
import type { AppContext } from '../app.ts';
import { AGREEMENT_STATUSES, CHANNELS, type Channel, isChannel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { contactExample, emailParam, errorResponse, json, ref } from '../http/openapi.ts';
import { apiOrigin } from '../http/origin.ts';
import { emailFromPath } from '../http/params.ts';
import type { ApiRoute } from '../http/route-table.ts';
import { INSTANT_MESSAGE, onlyFields, parseInstant } from '../http/validate.ts';
import { pauseProblem, topicList } from '../preferences/service.ts';
import { eraseContact, exportContact, getContact, saveContact, unsubscribeContact } from './profile.ts';
import {
  type AccountPatch,
  accountJson,
  type ContactPatch,
  cleanLocale,
  cleanRegion,
  isTimeZone,
  MAX_NAME,
  parsePhone,
  upsertAccount,
} from './service.ts';

const nullableText = (field: string, max: number) =>
  body(field)
    .optional({ values: 'undefined' })
    .custom((v) => v === null || (typeof v === 'string' && v.length <= max))
    .withMessage(`a string of at most ${max} characters, or null to clear`);

export function contactApi(ctx: AppContext): ApiRoute[] {
  return [
    {
      method: 'get',
      path: '/v1/topics',
      operationId: 'listTopics',
      tag: 'Contacts',
      scope: 'any',
      doc: {
        summary: 'Every topic with its kind and channels (any valid key)',
        responses: {
          '200': {
            description: 'Topics',
            content: json(
              {
                type: 'object',
                required: ['topics'],
                properties: { topics: { type: 'array', items: ref('Topic') } },
              },
              {
                topics: [
                  {
                    slug: 'newsletter',
                    name: 'Newsletter',
                    description: 'Our regular newsletter.',
                    kind: 'marketing',
                    channels: ['email'],
                    sendgridGroupId: null,
                  },
                ],
              },
            ),
          },
        },
      },
      handler: async (_req, res) => {
        res.json({ topics: await topicList(ctx) });
      },
    },
    {
      method: 'put',
      path: '/v1/accounts/{externalId}',
      operationId: 'putAccount',
      tag: 'Contacts',
      scope: 'contacts',
      body: 'json',
      input: [
        onlyFields(['name', 'agreement']),
        nullableText('name', MAX_NAME),
        body('agreement').optional().isObject().withMessage('an object {status, signedAt, reference}'),
        body('agreement.status')
          .if(body('agreement').exists())
          .isIn(AGREEMENT_STATUSES as unknown as string[])
          .withMessage(`one of ${AGREEMENT_STATUSES.join(', ')}`),
        body('agreement.signedAt')
          .optional({ values: 'null' })
          .custom((v) => parseInstant(v) !== null)
          .withMessage(INSTANT_MESSAGE),
        nullableText('agreement.reference', 200),
      ],
      invalid: 'The account is not valid.',
      doc: {
        summary:
          'Create or update an account and its agreement (scope: contacts). Absent fields stay, null clears.',
        parameters: [
          { name: 'externalId', in: 'path', required: true, schema: { type: 'string', maxLength: 200 } },
        ],
        requestBody: {
          required: true,
          content: json(
            {
              type: 'object',
              additionalProperties: false,
              properties: {
                name: { type: ['string', 'null'], maxLength: 200 },
                agreement: ref('Agreement'),
              },
            },
            {
              name: 'Acme Inc',
              agreement: { status: 'signed', signedAt: '2026-03-01', reference: 'MSA-2026-001' },
            },
          ),
        },
        responses: {
          '200': { description: 'Updated', content: json(ref('Account')) },
          '201': {
            description: 'Created',
            content: json(ref('Account'), {
              externalId: 'acme',
              name: 'Acme Inc',
              agreement: {
                status: 'signed',
                signedAt: '2026-03-01T00:00:00.000Z',
                reference: 'MSA-2026-001',
              },
            }),
          },
        },
      },
      handler: async (req, res) => {
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
    },
    {
      method: 'put',
      path: '/v1/contacts/{email}',
      operationId: 'putContact',
      tag: 'Contacts',
      scope: 'contacts',
      body: 'json',
      errors: ['conflict'],
      input: [
        onlyFields(['name', 'phone', 'accountExternalId', 'locale', 'timeZone', 'region', 'pausedUntil']),
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
        body('pausedUntil')
          .optional({ values: 'null' })
          .custom((v) => parseInstant(v) !== null)
          .withMessage(`when marketing email resumes: ${INSTANT_MESSAGE}`)
          .bail()
          .custom((v) => pauseProblem(parseInstant(v), new Date()) === null)
          .withMessage('a future instant at most a year ahead (null ends a pause)'),
      ],
      invalid: 'The contact is not valid.',
      doc: {
        summary: 'Create or update a contact (scope: contacts). Absent fields stay, null clears.',
        parameters: [emailParam],
        requestBody: {
          required: true,
          content: json(ref('ContactInput'), {
            name: 'Ann Example',
            phone: '(415) 555-2671',
            accountExternalId: 'acme',
          }),
        },
        responses: {
          '200': { description: 'Updated', content: json(ref('Contact')) },
          '201': { description: 'Created', content: json(ref('Contact'), contactExample) },
          '409': errorResponse(
            'The phone number belongs to another contact',
            'conflict',
            'This phone number already belongs to another contact.',
          ),
        },
      },
      handler: async (req, res) => {
        const email = emailFromPath(req.params.email);
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
        const pausedUntil =
          b.pausedUntil === undefined
            ? undefined
            : b.pausedUntil === null
              ? null
              : parseInstant(b.pausedUntil);
        const { view, created } = await saveContact(ctx, apiOrigin(req), email, patch, pausedUntil);
        res.status(created ? 201 : 200).json(view);
      },
    },
    {
      method: 'get',
      path: '/v1/contacts/{email}',
      operationId: 'getContact',
      tag: 'Contacts',
      scope: 'contacts',
      errors: ['not_found'],
      doc: {
        summary: 'A contact with account, preferences, consents and suppression (scope: contacts)',
        parameters: [emailParam],
        responses: {
          '200': { description: 'The contact', content: json(ref('Contact'), contactExample) },
          '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
        },
      },
      handler: async (req, res) => {
        res.json(await getContact(ctx, emailFromPath(req.params.email)));
      },
    },
    {
      method: 'delete',
      path: '/v1/contacts/{email}',
      operationId: 'eraseContact',
      tag: 'Contacts',
      scope: 'contacts',
      errors: ['not_found'],
      doc: {
        summary:
          'Erase a contact: personal data removed, address kept suppressed by keyed hash (scope: contacts)',
        parameters: [emailParam],
        responses: {
          '204': { description: 'Erased' },
          '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
        },
      },
      handler: async (req, res) => {
        await eraseContact(ctx, apiOrigin(req), emailFromPath(req.params.email));
        res.status(204).end();
      },
    },
    {
      method: 'post',
      path: '/v1/contacts/{email}/unsubscribe',
      operationId: 'unsubscribeContact',
      tag: 'Contacts',
      scope: 'contacts',
      body: 'json-optional',
      errors: ['not_found'],
      input: [
        onlyFields(['topic', 'channel']),
        body('topic').optional().isString().withMessage('a topic slug'),
        body('channel')
          .optional()
          .custom((v) => isChannel(v))
          .withMessage(`one of ${CHANNELS.join(', ')}`),
      ],
      invalid: 'The unsubscribe request is not valid.',
      doc: {
        summary:
          'Unsubscribe a contact (scope: contacts). No topic: all marketing. No channel: every channel the topic is offered on.',
        parameters: [emailParam],
        requestBody: {
          required: false,
          content: json(
            {
              type: 'object',
              additionalProperties: false,
              properties: { topic: { type: 'string' }, channel: ref('Channel') },
            },
            { topic: 'newsletter', channel: 'email' },
          ),
        },
        responses: {
          '200': {
            description: 'The changes that took effect and the resulting preferences',
            content: json(
              {
                type: 'object',
                required: ['changed', 'preferences'],
                properties: {
                  changed: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['channel', 'topic', 'from', 'to'],
                      properties: {
                        channel: ref('Channel'),
                        topic: { type: ['string', 'null'] },
                        from: ref('PrefStatus'),
                        to: ref('PrefStatus'),
                      },
                    },
                  },
                  preferences: ref('Preferences'),
                },
              },
              {
                changed: [{ channel: 'email', topic: 'newsletter', from: 'subscribed', to: 'unsubscribed' }],
                preferences: contactExample.preferences,
              },
            ),
          },
          '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
        },
      },
      handler: async (req, res) => {
        const { topic, channel } = (req.body ?? {}) as { topic?: string; channel?: Channel };
        const { changes, view } = await unsubscribeContact(
          ctx,
          apiOrigin(req),
          emailFromPath(req.params.email),
          {
            topic,
            channel,
          },
        );
        res.json({
          changed: changes.map((c) => ({ channel: c.channel, topic: c.topic, from: c.from, to: c.status })),
          preferences: view.preferences,
        });
      },
    },
    {
      method: 'get',
      path: '/v1/contacts/{email}/export',
      operationId: 'exportContact',
      tag: 'Contacts',
      scope: 'contacts',
      errors: ['not_found'],
      doc: {
        summary: 'Everything held about a contact, as one JSON document (scope: contacts)',
        description:
          'For a data request: the contact, its preferences and pause, every consent with its evidence and its Kantara consent receipt, suppression, and its ledger events.',
        parameters: [emailParam],
        responses: {
          '200': { description: 'The document', content: json(ref('ContactExport')) },
        },
      },
      handler: async (req, res) => {
        res.setHeader('Content-Disposition', 'attachment; filename="contact-export.json"');
        res.json(await exportContact(ctx, emailFromPath(req.params.email)));
      },
    },
  ];
}
