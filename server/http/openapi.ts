// The OpenAPI 3.1 description of every JSON API route, served at GET /api/openapi.json.
// test/integration/openapi.test.ts fails when a route in the router is missing here, and
// validates every example (and real responses) against these schemas.
import { REASONS } from '../permission/decide.ts';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, example?: unknown) => ({
  'application/json': { schema, ...(example !== undefined ? { example } : {}) },
});
const errorResponse = (description: string, code: string, message: string) => ({
  description,
  content: json(ref('Error'), { error: { code, message } }),
});
const standardErrors = {
  '400': errorResponse(
    'Invalid input; details name each bad field',
    'validation_failed',
    'The request is not valid.',
  ),
  '401': errorResponse(
    'Missing, unknown or revoked API key',
    'unauthorized',
    'This API key is not valid or has been revoked.',
  ),
  '403': errorResponse(
    'The key lacks the scope this route needs',
    'forbidden',
    'This API key lacks the "check" scope needed here.',
  ),
  '413': errorResponse(
    'The body is larger than 4 MB',
    'payload_too_large',
    'The request body is too large: the limit is 4 MB.',
  ),
  '415': errorResponse(
    'A body that is not JSON where JSON is expected',
    'unsupported_media_type',
    'This endpoint takes JSON: send the body with "Content-Type: application/json".',
  ),
  '503': errorResponse(
    'The database cannot be reached: treat as a denial',
    'unavailable',
    'The service cannot reach its database right now.',
  ),
};
const webhookIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'The endpoint id',
  schema: { type: 'string', format: 'uuid' },
};
const emailParam = {
  name: 'email',
  in: 'path',
  required: true,
  description: 'The contact address (URL-encoded); matched case-insensitively.',
  schema: { type: 'string' },
};

const idempotencyHeader = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Same key and body within 24 h: the first answer again, nothing re-sent. Same key, other body: 409.',
  schema: { type: 'string', maxLength: 255 },
};

const messageExample = {
  to: 'ann@example.com',
  topic: 'newsletter',
  subject: 'Our November news',
  html: '<p>Hello</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a> · <a href="{{preferences_url}}">Preferences</a></p>',
  text: 'Hello\n\nUnsubscribe: {{unsubscribe_url}}',
  from: 'News <news@example.com>',
};

const consentExample = {
  id: '2d4e6f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f',
  phone: '+14155552671',
  channel: 'sms',
  status: 'granted',
  method: 'web_form',
  disclosure: {
    version: 1,
    locale: 'en',
    text: 'By checking this box, I agree to receive …',
    textHash: '9f2c…',
  },
  capturedBy: 'apikey:1f0e',
  capturedAt: '2026-11-25T10:00:00.000Z',
  ip: '203.0.113.7',
  userAgent: 'Mozilla/5.0',
  note: null,
  revokedAt: null,
  revokedBy: null,
  revokedMethod: null,
};

const contactExample = {
  email: 'ann@example.com',
  name: 'Ann Example',
  phone: '+14155552671',
  locale: 'en',
  timeZone: 'America/Los_Angeles',
  account: {
    externalId: 'acme',
    name: 'Acme Inc',
    agreement: { status: 'signed', signedAt: '2026-03-01T00:00:00.000Z', reference: 'MSA-2026-001' },
  },
  preferences: {
    email: {
      allMarketing: 'subscribed',
      topics: {
        newsletter: 'unsubscribed',
        'product-updates': 'subscribed',
        events: 'subscribed',
        offers: 'subscribed',
      },
    },
    sms: {
      allMarketing: 'subscribed',
      topics: { 'product-updates': 'subscribed', events: 'subscribed', offers: 'subscribed' },
    },
    voice: { allMarketing: 'subscribed', topics: { events: 'subscribed', offers: 'subscribed' } },
  },
  consents: [
    {
      phone: '+14155552671',
      channel: 'sms',
      status: 'granted',
      method: 'web_form',
      disclosureVersion: 1,
      capturedAt: '2026-03-02T10:00:00.000Z',
      revokedAt: null,
    },
  ],
  suppression: null,
  preferencesUrl: 'https://prefs.example.com/preferences/AQJ…',
};

export function openApiDocument(baseUrl: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Preference center API',
      version: '1.0.0',
      description:
        'Send-permission checks, contacts, accounts, topics and the mail gateway. Authenticate with `Authorization: Bearer <api key>`; ' +
        'each route names the scope it needs. Anything but a 200 from a check is a denial.',
    },
    servers: [{ url: `${baseUrl}/api` }],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'API key created with `npm run cli -- apikey:create`',
        },
      },
      schemas: {
        MessageRequest: {
          type: 'object',
          required: ['to', 'topic', 'subject'],
          additionalProperties: false,
          description:
            'html, text or both. Marketing bodies must contain {{unsubscribe_url}}; {{preferences_url}} is also replaced.',
          properties: {
            to: { type: 'string', format: 'email' },
            topic: { type: 'string' },
            subject: { type: 'string', minLength: 1, maxLength: 998 },
            html: { type: 'string' },
            text: { type: 'string' },
            from: { type: 'string', description: 'Defaults to MAIL_FROM' },
          },
        },
        ConsentHistory: {
          type: 'object',
          required: ['consents'],
          properties: {
            phone: { type: 'string' },
            granted: { type: 'array', items: { enum: ['sms', 'voice'] } },
            revoked: { type: 'array', items: { enum: ['sms', 'voice'] } },
            consents: {
              type: 'array',
              items: {
                type: 'object',
                required: ['id', 'phone', 'channel', 'status', 'method', 'capturedBy', 'capturedAt'],
                properties: {
                  id: { type: 'string' },
                  phone: { type: 'string' },
                  channel: { enum: ['sms', 'voice'] },
                  status: { enum: ['granted', 'revoked'] },
                  method: { type: 'string' },
                  disclosure: {
                    type: ['object', 'null'],
                    properties: {
                      version: { type: 'integer' },
                      locale: { type: 'string' },
                      text: { type: 'string' },
                      textHash: { type: 'string' },
                    },
                  },
                  capturedBy: { type: 'string' },
                  capturedAt: { type: 'string' },
                  ip: { type: ['string', 'null'] },
                  userAgent: { type: ['string', 'null'] },
                  note: { type: ['string', 'null'] },
                  revokedAt: { type: ['string', 'null'] },
                  revokedBy: { type: ['string', 'null'] },
                  revokedMethod: { type: ['string', 'null'] },
                },
              },
            },
          },
        },
        Suppressed: {
          type: 'object',
          required: ['status', 'reason'],
          additionalProperties: false,
          properties: { status: { const: 'suppressed' }, reason: { enum: [...REASONS] } },
        },
        Message: {
          type: 'object',
          required: ['id', 'to', 'topic', 'status', 'transport', 'headers'],
          properties: {
            id: { type: 'string' },
            to: { type: 'string' },
            from: { type: 'string' },
            topic: { type: 'string' },
            subject: { type: 'string' },
            status: { type: 'string' },
            reason: { type: ['string', 'null'] },
            transport: { enum: ['sendgrid', 'outbox'] },
            headers: { type: 'object', additionalProperties: { type: 'string' } },
            html: { type: ['string', 'null'] },
            text: { type: ['string', 'null'] },
            providerMessageId: { type: ['string', 'null'] },
            providerError: { type: ['string', 'null'] },
            attempts: { type: 'integer' },
            createdAt: { type: 'string' },
            sentAt: { type: ['string', 'null'] },
          },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: {
                  type: 'string',
                  enum: [
                    'validation_failed',
                    'unauthorized',
                    'forbidden',
                    'not_found',
                    'conflict',
                    'payload_too_large',
                    'unsupported_media_type',
                    'rate_limited',
                    'unavailable',
                    'provider_failed',
                    'internal',
                  ],
                },
                message: { type: 'string' },
                details: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['message'],
                    properties: { field: { type: 'string' }, message: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
        Channel: { type: 'string', enum: ['email', 'sms', 'voice'] },
        Reason: { type: 'string', enum: [...REASONS] },
        PrefStatus: { type: 'string', enum: ['subscribed', 'unsubscribed'] },
        Unsubscribe: {
          type: 'object',
          required: ['url', 'oneClickUrl', 'headers'],
          properties: {
            url: { type: 'string', format: 'uri' },
            oneClickUrl: { type: 'string', format: 'uri' },
            headers: {
              type: 'object',
              required: ['List-Unsubscribe', 'List-Unsubscribe-Post'],
              properties: {
                'List-Unsubscribe': { type: 'string', pattern: '^<https?://.+>$' },
                'List-Unsubscribe-Post': { const: 'List-Unsubscribe=One-Click' },
              },
            },
          },
        },
        CheckRequest: {
          type: 'object',
          required: ['channel', 'recipient', 'topic'],
          properties: {
            channel: ref('Channel'),
            recipient: {
              type: 'string',
              description: 'An email address, or a phone number in any common format for sms/voice',
            },
            topic: { type: 'string', description: 'Topic slug, see GET /v1/topics' },
            reserve: {
              type: 'boolean',
              description:
                'sms/voice: when allowed, write a send record atomically with the answer (frequency limits count them) and return its reservationId',
            },
            reservationKey: {
              type: 'string',
              maxLength: 255,
              description: 'Makes a retried reserve count once',
            },
          },
        },
        CheckResponse: {
          type: 'object',
          required: ['allowed', 'reason', 'channel', 'recipient', 'topic'],
          additionalProperties: false,
          properties: {
            allowed: { type: 'boolean' },
            reason: ref('Reason'),
            channel: ref('Channel'),
            recipient: { type: 'string', description: 'Email as given (trimmed), phone numbers in E.164' },
            topic: { type: 'string' },
            retryAfter: {
              type: 'string',
              format: 'date-time',
              description:
                'quiet_hours and frequency_limit: the earliest instant the same check could be allowed',
            },
            reservationId: { type: 'string', format: 'uuid' },
            unsubscribe: ref('Unsubscribe'),
          },
        },
        BatchResponse: {
          type: 'object',
          required: ['results'],
          properties: {
            results: {
              type: 'array',
              items: {
                type: 'object',
                required: ['recipient', 'allowed', 'reason'],
                properties: {
                  recipient: { type: 'string' },
                  allowed: { type: 'boolean' },
                  reason: ref('Reason'),
                  retryAfter: { type: 'string', format: 'date-time' },
                  reservationId: { type: 'string', format: 'uuid' },
                },
              },
            },
          },
        },
        Topic: {
          type: 'object',
          required: ['slug', 'name', 'kind', 'channels'],
          properties: {
            slug: { type: 'string' },
            name: { type: 'string' },
            description: { type: ['string', 'null'] },
            kind: { type: 'string', enum: ['marketing', 'operational'] },
            channels: { type: 'array', items: ref('Channel') },
            sendgridGroupId: { type: ['integer', 'null'] },
          },
        },
        Agreement: {
          type: 'object',
          required: ['status'],
          properties: {
            status: { type: 'string', enum: ['none', 'signed', 'terminated'] },
            signedAt: { type: ['string', 'null'], format: 'date-time' },
            reference: { type: ['string', 'null'], maxLength: 200 },
          },
        },
        Account: {
          type: 'object',
          required: ['externalId', 'name', 'agreement'],
          properties: {
            externalId: { type: 'string' },
            name: { type: ['string', 'null'] },
            agreement: ref('Agreement'),
          },
        },
        ChannelPreferences: {
          type: 'object',
          required: ['allMarketing', 'topics'],
          properties: {
            allMarketing: ref('PrefStatus'),
            topics: { type: 'object', additionalProperties: ref('PrefStatus') },
          },
        },
        Preferences: {
          type: 'object',
          required: ['email', 'sms', 'voice'],
          properties: {
            email: ref('ChannelPreferences'),
            sms: ref('ChannelPreferences'),
            voice: ref('ChannelPreferences'),
          },
        },
        Consent: {
          type: 'object',
          required: ['phone', 'channel', 'status', 'method', 'capturedAt'],
          properties: {
            phone: { type: 'string' },
            channel: { type: 'string', enum: ['sms', 'voice'] },
            status: { type: 'string', enum: ['granted', 'revoked'] },
            method: {
              type: 'string',
              enum: ['web_form', 'written_agreement', 'verbal', 'sms_keyword', 'api'],
            },
            disclosureVersion: { type: ['integer', 'null'] },
            capturedAt: { type: 'string', format: 'date-time' },
            revokedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        Contact: {
          type: 'object',
          required: [
            'email',
            'name',
            'phone',
            'locale',
            'timeZone',
            'account',
            'preferences',
            'consents',
            'suppression',
            'preferencesUrl',
          ],
          properties: {
            email: { type: 'string' },
            name: { type: ['string', 'null'] },
            phone: { type: ['string', 'null'] },
            locale: { type: ['string', 'null'] },
            timeZone: { type: ['string', 'null'] },
            region: { type: ['string', 'null'] },
            account: { oneOf: [ref('Account'), { type: 'null' }] },
            preferences: ref('Preferences'),
            consents: { type: 'array', items: ref('Consent') },
            suppression: {
              oneOf: [
                { type: 'null' },
                {
                  type: 'object',
                  required: ['reason', 'since'],
                  properties: { reason: { type: 'string' }, since: { type: 'string', format: 'date-time' } },
                },
              ],
            },
            preferencesUrl: { type: 'string' },
          },
        },
        WebhookEndpoint: {
          type: 'object',
          required: ['id', 'url', 'events', 'state', 'cursor'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            url: { type: 'string' },
            description: { type: ['string', 'null'] },
            events: { type: 'array', items: { type: 'string' } },
            state: { enum: ['active', 'paused'] },
            firstParty: { type: 'boolean' },
            cursor: { type: 'string', description: 'Delivered up to this feed cursor' },
            failingSince: { type: ['string', 'null'], format: 'date-time' },
            attempts: { type: 'integer' },
            nextAttemptAt: { type: ['string', 'null'], format: 'date-time' },
            lastDelivery: {
              oneOf: [
                { type: 'null' },
                {
                  type: 'object',
                  properties: {
                    at: { type: 'string' },
                    status: { type: ['integer', 'null'] },
                    error: { type: ['string', 'null'] },
                  },
                },
              ],
            },
            lastSuccessAt: { type: ['string', 'null'], format: 'date-time' },
            createdAt: { type: 'string', format: 'date-time' },
            secret: { type: 'string', description: 'Shown when created or rolled only' },
            deliveries: { type: 'array', items: { type: 'object' } },
          },
        },
        ContactInput: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: ['string', 'null'], maxLength: 200 },
            phone: { type: ['string', 'null'], description: 'Any common format; stored in E.164' },
            accountExternalId: { type: ['string', 'null'] },
            locale: { type: ['string', 'null'], examples: ['en', 'es'] },
            timeZone: { type: ['string', 'null'], examples: ['America/New_York'] },
            region: {
              type: ['string', 'null'],
              examples: ['US-FL'],
              description: 'ISO 3166-2: picks the state telephone rules',
            },
          },
        },
      },
    },
    paths: {
      '/openapi.json': {
        get: {
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'OpenAPI 3.1 document', content: json({ type: 'object' }) } },
        },
      },
      '/v1/send-permission': {
        post: {
          summary: 'May we send this topic on this channel to this recipient? (scope: check)',
          requestBody: {
            required: true,
            content: json(ref('CheckRequest'), {
              channel: 'email',
              recipient: 'ann@example.com',
              topic: 'newsletter',
            }),
          },
          responses: {
            '200': {
              description:
                'The decision. Allowed email marketing carries the unsubscribe link and List-Unsubscribe headers to put on the message.',
              content: json(ref('CheckResponse'), {
                allowed: true,
                reason: 'subscribed',
                channel: 'email',
                recipient: 'ann@example.com',
                topic: 'newsletter',
                unsubscribe: {
                  url: 'https://prefs.example.com/u/AQE.k1.sig',
                  oneClickUrl: 'https://prefs.example.com/u/AQE.k1.sig',
                  headers: {
                    'List-Unsubscribe': '<https://prefs.example.com/u/AQE.k1.sig>',
                    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
                  },
                },
              }),
            },
            ...standardErrors,
          },
        },
      },
      '/v1/send-permission/reservations/{id}': {
        delete: {
          summary:
            'Release a reservation whose send failed: it no longer counts toward a limit (scope: check)',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
          ],
          responses: {
            '204': { description: 'Released' },
            '404': errorResponse(
              'No such reservation for this key',
              'not_found',
              'No reservation with this id for this API key.',
            ),
            ...standardErrors,
          },
        },
      },
      '/v1/send-permission/batch': {
        post: {
          summary:
            'Up to 10,000 recipients of one channel and topic, answered in request order (scope: check)',
          requestBody: {
            required: true,
            content: json(
              {
                type: 'object',
                required: ['channel', 'topic', 'recipients'],
                properties: {
                  channel: ref('Channel'),
                  topic: { type: 'string' },
                  recipients: { type: 'array', maxItems: 10000, items: { type: 'string' } },
                  reserve: {
                    type: 'boolean',
                    description: 'sms/voice: reserve a send record for each allowed recipient',
                  },
                },
              },
              { channel: 'email', topic: 'offers', recipients: ['ann@example.com', 'bob@example.com'] },
            ),
          },
          responses: {
            '200': {
              description: 'One result per recipient, in order, duplicates included',
              content: json(ref('BatchResponse'), {
                results: [
                  { recipient: 'ann@example.com', allowed: true, reason: 'subscribed' },
                  { recipient: 'bob@example.com', allowed: false, reason: 'unsubscribed_all' },
                ],
              }),
            },
            ...standardErrors,
          },
        },
      },
      '/v1/send-permission/stream': {
        post: {
          summary: 'Any number of recipients, one per line, answered line by line as NDJSON (scope: check)',
          parameters: [
            { name: 'channel', in: 'query', required: true, schema: ref('Channel') },
            { name: 'topic', in: 'query', required: true, schema: { type: 'string' } },
            {
              name: 'links',
              in: 'query',
              required: false,
              schema: { type: 'string', enum: ['true', 'false'] },
            },
          ],
          requestBody: {
            required: true,
            content: {
              'text/plain': { schema: { type: 'string' }, example: 'ann@example.com\nbob@example.com\n' },
              'application/x-ndjson': {
                schema: { type: 'string' },
                example: '{"recipient":"ann@example.com"}\n',
              },
            },
          },
          responses: {
            '200': {
              description:
                'One NDJSON line per input line, in order: {"recipient","allowed","reason"} or {"recipient","error"} for a malformed line.',
              content: {
                'application/x-ndjson': {
                  schema: { type: 'string' },
                  example: '{"recipient":"ann@example.com","allowed":true,"reason":"subscribed"}\n',
                },
              },
            },
            ...standardErrors,
          },
        },
      },
      '/v1/topics': {
        get: {
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
            '401': standardErrors['401'],
          },
        },
      },
      '/v1/accounts/{externalId}': {
        put: {
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
            ...standardErrors,
          },
        },
      },
      '/v1/contacts/{email}': {
        put: {
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
            ...standardErrors,
          },
        },
        get: {
          summary: 'A contact with account, preferences, consents and suppression (scope: contacts)',
          parameters: [emailParam],
          responses: {
            '200': { description: 'The contact', content: json(ref('Contact'), contactExample) },
            '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
            ...standardErrors,
          },
        },
        delete: {
          summary:
            'Erase a contact: personal data removed, address kept suppressed by keyed hash (scope: contacts)',
          parameters: [emailParam],
          responses: {
            '204': { description: 'Erased' },
            '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
            ...standardErrors,
          },
        },
      },
      '/v1/contacts/{email}/unsubscribe': {
        post: {
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
                  changed: [
                    { channel: 'email', topic: 'newsletter', from: 'subscribed', to: 'unsubscribed' },
                  ],
                  preferences: contactExample.preferences,
                },
              ),
            },
            '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
            ...standardErrors,
          },
        },
      },
      '/v1/messages': {
        post: {
          summary:
            'Send one email through the gateway, checked at send time (scope: send). Optional Idempotency-Key header.',
          parameters: [idempotencyHeader],
          requestBody: { required: true, content: json(ref('MessageRequest'), messageExample) },
          responses: {
            '202': {
              description: 'Allowed and accepted by SendGrid (or stored in the local outbox)',
              content: json(
                {
                  type: 'object',
                  required: ['id', 'status'],
                  additionalProperties: false,
                  properties: { id: { type: 'string', format: 'uuid' }, status: { const: 'sent' } },
                },
                { id: '0b5f8f0e-6a53-4d5e-9a3c-5d0f7c1d2e3f', status: 'sent' },
              ),
            },
            '409': errorResponse(
              'The Idempotency-Key was used with another body, or its first request is still running',
              'conflict',
              'This Idempotency-Key was already used with a different request body.',
            ),
            '422': {
              description: 'Denied by the check: nothing was sent',
              content: json(ref('Suppressed'), { status: 'suppressed', reason: 'unsubscribed_topic' }),
            },
            '502': errorResponse(
              'SendGrid did not accept the message after retries; it is kept as failed',
              'provider_failed',
              'The mail provider did not accept the message after 4 tries.',
            ),
            ...standardErrors,
          },
        },
      },
      '/v1/messages/batch': {
        post: {
          summary: 'Send up to 1,000 personalised messages, decided and answered per recipient (scope: send)',
          parameters: [idempotencyHeader],
          requestBody: {
            required: true,
            content: json(
              {
                type: 'object',
                required: ['messages'],
                properties: {
                  messages: { type: 'array', minItems: 1, maxItems: 1000, items: ref('MessageRequest') },
                },
              },
              { messages: [messageExample] },
            ),
          },
          responses: {
            '200': {
              description: 'One result per message, in order',
              content: json(
                {
                  type: 'object',
                  required: ['results'],
                  properties: {
                    results: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['status'],
                        properties: {
                          to: {},
                          id: { type: 'string' },
                          status: { enum: ['sent', 'suppressed', 'invalid', 'failed'] },
                          reason: { type: 'string' },
                          error: { type: 'object' },
                        },
                      },
                    },
                  },
                },
                {
                  results: [
                    { to: 'ann@example.com', id: '0b5f8f0e-6a53-4d5e-9a3c-5d0f7c1d2e3f', status: 'sent' },
                    {
                      to: 'bob@example.com',
                      id: '1c6a9f1f-7b64-4e6f-8b4d-6e1a8d2e3f40',
                      status: 'suppressed',
                      reason: 'unsubscribed_all',
                    },
                  ],
                },
              ),
            },
            '409': errorResponse(
              'Idempotency-Key conflict',
              'conflict',
              'This Idempotency-Key was already used with a different request body.',
            ),
            ...standardErrors,
          },
        },
      },
      '/v1/messages/{id}': {
        get: {
          summary: 'A message, its headers and its delivery status (scope: send)',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': {
              description: 'The message',
              content: json(ref('Message'), {
                id: '0b5f8f0e-6a53-4d5e-9a3c-5d0f7c1d2e3f',
                to: 'ann@example.com',
                from: 'News <news@example.com>',
                topic: 'newsletter',
                subject: 'Our November news',
                status: 'delivered',
                reason: null,
                transport: 'sendgrid',
                headers: {
                  'List-Unsubscribe': '<https://prefs.example.com/u/AQE.k1.sig>',
                  'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
                },
                html: '<p>Hello</p><p><a href="https://prefs.example.com/u/AQE.k1.sig">Unsubscribe</a></p>',
                text: null,
                providerMessageId: 'Xy12AbCdEfGh',
                providerError: null,
                attempts: 1,
                createdAt: '2026-11-25T10:00:00.000Z',
                sentAt: '2026-11-25T10:00:01.000Z',
              }),
            },
            '404': errorResponse('No such message', 'not_found', 'No message with this id.'),
            ...standardErrors,
          },
        },
      },
      '/v1/contacts/{email}/consents': {
        post: {
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
            ...standardErrors,
          },
        },
        get: {
          summary: 'Every consent record of a contact with its evidence, oldest first (scope: contacts)',
          parameters: [emailParam],
          responses: {
            '200': {
              description: 'The history',
              content: json(ref('ConsentHistory'), { consents: [consentExample] }),
            },
            '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
            ...standardErrors,
          },
        },
      },
      '/v1/contacts/{email}/consents/revoke': {
        post: {
          summary:
            'Revoke consent for a number on channels; takes effect for the next check (scope: contacts)',
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
            ...standardErrors,
          },
        },
      },
      '/v1/events': {
        get: {
          summary:
            'The ledger as a feed, NDJSON or CSV (scope: events). Every event carries a cursor; pass the cursor of the last event received as after= to get every committed event after it exactly once (docs/feed.md).',
          parameters: [
            { name: 'since', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } },
            { name: 'until', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } },
            {
              name: 'after',
              in: 'query',
              required: false,
              description:
                'The `cursor` of the last event received (an event id is refused: ids are handed out before commit)',
              schema: { type: 'string', pattern: '^f1\\.\\d+$' },
            },
            {
              name: 'wait',
              in: 'query',
              required: false,
              description: 'Seconds (0-30) to hold an empty answer open until an event arrives',
              schema: { type: 'integer', minimum: 0, maximum: 30 },
            },
            {
              name: 'contact',
              in: 'query',
              required: false,
              description: 'A contact email',
              schema: { type: 'string' },
            },
            {
              name: 'format',
              in: 'query',
              required: false,
              schema: { enum: ['ndjson', 'csv'], default: 'ndjson' },
            },
          ],
          responses: {
            '200': {
              description:
                'One event per line: {"id","cursor","occurredAt","type","contactId","email","accountId","channel","topic","oldValue","newValue","actor","ip","userAgent","data"}',
              content: {
                'application/x-ndjson': { schema: { type: 'string' } },
                'text/csv': { schema: { type: 'string' } },
              },
            },
            '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
            ...standardErrors,
          },
        },
      },
      '/v1/webhooks': {
        post: {
          summary: 'Add a webhook endpoint; the secret is shown once (scope: webhooks)',
          requestBody: {
            required: true,
            content: json(
              {
                type: 'object',
                required: ['url', 'events'],
                additionalProperties: false,
                properties: {
                  url: { type: 'string', description: 'https in production, to a public address' },
                  events: { type: 'array', minItems: 1, items: { type: 'string' }, examples: [['*']] },
                  description: { type: ['string', 'null'], maxLength: 500 },
                },
              },
              {
                url: 'https://crm.example.com/hooks/preferences',
                events: ['preference.changed', 'consent.revoked'],
              },
            ),
          },
          responses: {
            '201': {
              description: 'The endpoint, with its secret (whsec_…)',
              content: json(ref('WebhookEndpoint')),
            },
            ...standardErrors,
          },
        },
        get: {
          summary: 'List webhook endpoints with their state and last delivery (scope: webhooks)',
          responses: {
            '200': {
              description: 'The endpoints',
              content: json({
                type: 'object',
                properties: { webhooks: { type: 'array', items: ref('WebhookEndpoint') } },
              }),
            },
            ...standardErrors,
          },
        },
      },
      '/v1/webhooks/{id}': {
        get: {
          summary: 'One endpoint and its recent deliveries (scope: webhooks)',
          parameters: [webhookIdParam],
          responses: {
            '200': {
              description: 'The endpoint and its delivery log',
              content: json(ref('WebhookEndpoint')),
            },
            '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
            ...standardErrors,
          },
        },
        delete: {
          summary: 'Remove an endpoint (scope: webhooks)',
          parameters: [webhookIdParam],
          responses: {
            '204': { description: 'Removed' },
            '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
            ...standardErrors,
          },
        },
      },
      '/v1/webhooks/{id}/replay': {
        post: {
          summary: 'Deliver again every event after a cursor (scope: webhooks)',
          parameters: [webhookIdParam],
          requestBody: {
            required: true,
            content: json(
              { type: 'object', required: ['after'], properties: { after: { type: 'string' } } },
              { after: 'f1.41235' },
            ),
          },
          responses: {
            '200': {
              description: 'The endpoint, its cursor moved back',
              content: json(ref('WebhookEndpoint')),
            },
            '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
            ...standardErrors,
          },
        },
      },
      '/v1/webhooks/{id}/resume': {
        post: {
          summary: 'Resume a paused endpoint from where it stopped (scope: webhooks)',
          parameters: [webhookIdParam],
          responses: {
            '200': { description: 'The endpoint', content: json(ref('WebhookEndpoint')) },
            '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
            ...standardErrors,
          },
        },
      },
      '/v1/webhooks/{id}/roll-secret': {
        post: {
          summary: 'A new secret; the old one still signs beside it for 24 h (scope: webhooks)',
          parameters: [webhookIdParam],
          responses: {
            '200': { description: 'The endpoint with its new secret', content: json(ref('WebhookEndpoint')) },
            '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
            ...standardErrors,
          },
        },
      },
    },
  };
}
