// The parts of the OpenAPI 3.1 document that routes share: schemas, parameters, examples and the
// error answers. Each route's own description is in its declaration (http/route-table.ts);
// test/integration/openapi.test.ts validates examples and real answers against the result.
import type { ErrorCode } from '../errors.ts';
import { REASONS } from '../permission/service.ts';

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: object, example?: unknown) => ({
  'application/json': { schema, ...(example !== undefined ? { example } : {}) },
});
export const errorResponse = (description: string, code: string, message: string) => ({
  description,
  content: json(ref('Error'), { error: { code, message } }),
});
export const webhookIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'The endpoint id',
  schema: { type: 'string', format: 'uuid' },
};
export const emailParam = {
  name: 'email',
  in: 'path',
  required: true,
  description: 'The contact address (URL-encoded); matched case-insensitively.',
  schema: { type: 'string' },
};

export const idempotencyHeader = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Same key and body within 24 h: the first answer again, nothing re-sent. Same key, other body: 409.',
  schema: { type: 'string', maxLength: 255 },
};

export const messageExample = {
  to: 'ann@example.com',
  topic: 'newsletter',
  subject: 'Our November news',
  html: '<p>Hello</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a> · <a href="{{preferences_url}}">Preferences</a></p>',
  text: 'Hello\n\nUnsubscribe: {{unsubscribe_url}}',
  from: 'News <news@example.com>',
};

export const consentExample = {
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

export const contactExample = {
  email: 'ann@example.com',
  name: 'Ann Example',
  phone: '+14155552671',
  locale: 'en',
  timeZone: 'America/Los_Angeles',
  pausedUntil: null,
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

/** The answer each error code gives, as every route of a kind documents it. */
export const ERROR_RESPONSES: Record<ErrorCode, object> = {
  validation_failed: errorResponse(
    'Invalid input; details name each bad field',
    'validation_failed',
    'The request is not valid.',
  ),
  unauthorized: errorResponse(
    'Missing, unknown or revoked API key',
    'unauthorized',
    'This API key is not valid or has been revoked.',
  ),
  forbidden: errorResponse(
    'The key lacks the scope this route needs',
    'forbidden',
    'This API key lacks the "check" scope needed here.',
  ),
  not_found: errorResponse('No such thing', 'not_found', 'No contact with this email address.'),
  conflict: errorResponse(
    'The request conflicts with what is stored',
    'conflict',
    'This Idempotency-Key was used with a different request.',
  ),
  payload_too_large: errorResponse(
    'The body is larger than 4 MB',
    'payload_too_large',
    'The request body is too large: the limit is 4 MB.',
  ),
  unsupported_media_type: errorResponse(
    'A body that is not JSON where JSON is expected',
    'unsupported_media_type',
    'This endpoint takes JSON: send the body with "Content-Type: application/json".',
  ),
  rate_limited: errorResponse('Too many requests; see Retry-After', 'rate_limited', 'Too many requests.'),
  unavailable: errorResponse(
    'The database cannot be reached: treat as a denial',
    'unavailable',
    'The service cannot reach its database right now.',
  ),
  provider_failed: errorResponse(
    'The mail provider refused or failed',
    'provider_failed',
    'SendGrid did not accept the message.',
  ),
  internal: errorResponse('A fault on our side, logged', 'internal', 'Something went wrong on our side.'),
};

export const API_INFO = {
  title: 'Preference center API',
  version: '1.0.0',
  description:
    'Send-permission checks, contacts, accounts, topics and the mail gateway. Authenticate with `Authorization: Bearer <api key>`; ' +
    'each route names the scope it needs. Anything but a 200 from a check is a denial.',
};

export const COMPONENTS = {
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
      properties: {
        status: { const: 'suppressed' },
        reason: { enum: [...REASONS] },
        retryAfter: {
          type: 'string',
          format: 'date-time',
          description: 'paused: when marketing to this address resumes',
        },
      },
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
        mailto: { type: 'string', description: 'mailto: unsubscribe address (with INBOUND_EMAIL_DOMAIN)' },
        headers: {
          type: 'object',
          required: ['List-Unsubscribe', 'List-Unsubscribe-Post'],
          properties: {
            'List-Unsubscribe': {
              type: 'string',
              pattern: '^<https?://[^>]+>(, <mailto:[^>]+>)?$',
              description: 'The one-click URL, then (with INBOUND_EMAIL_DOMAIN) a mailto: address',
            },
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
    Event: {
      type: 'object',
      description: 'One ledger event (docs/feed.md). Personal data appears only while the contact exists.',
      required: ['id', 'cursor', 'occurredAt', 'type', 'actor'],
      additionalProperties: false,
      properties: {
        id: { type: 'integer', description: 'Handed out before commit: use `cursor`, not `id`, to resume' },
        cursor: {
          type: 'string',
          pattern: '^f1\\.\\d+$',
          description: 'Pass as `after=` to resume after this event',
        },
        occurredAt: { type: 'string', format: 'date-time' },
        type: {
          type: 'string',
          description: 'What happened',
          examples: ['preference.changed', 'consent.revoked', 'suppression.added', 'contact.erased'],
        },
        contactId: { type: ['string', 'null'], format: 'uuid' },
        email: { type: ['string', 'null'], description: 'The address, or its keyed hash once erased' },
        accountId: { type: ['string', 'null'], format: 'uuid' },
        channel: { anyOf: [ref('Channel'), { type: 'null' }] },
        topic: { type: ['string', 'null'] },
        oldValue: { type: ['string', 'null'] },
        newValue: { type: ['string', 'null'] },
        actor: { type: 'string', description: 'Who: apikey:<id>, staff:<id>, recipient, provider:…, system' },
        ip: { type: ['string', 'null'] },
        userAgent: { type: ['string', 'null'] },
        data: { type: ['object', 'null'] },
      },
    },
    CheckLine: {
      description: 'One answer line of the stream check: a decision, or an error for a malformed line',
      oneOf: [
        {
          type: 'object',
          required: ['recipient', 'allowed', 'reason'],
          properties: {
            recipient: { type: 'string' },
            allowed: { type: 'boolean' },
            reason: ref('Reason'),
            retryAfter: { type: 'string', format: 'date-time' },
            unsubscribe: ref('Unsubscribe'),
          },
        },
        {
          type: 'object',
          required: ['recipient', 'error'],
          properties: { recipient: { type: ['string', 'null'] }, error: { type: 'string' } },
        },
        { ...ref('Error'), description: 'The last line when the check stopped mid-way (database lost)' },
      ],
    },
    ConsentReceipt: {
      type: 'object',
      description:
        'Kantara Initiative Consent Receipt Specification v1.1, with our evidence under `evidence`',
      required: [
        'version',
        'jurisdiction',
        'consentTimestamp',
        'collectionMethod',
        'consentReceiptID',
        'language',
        'piiPrincipalId',
        'piiControllers',
        'policyUrl',
        'services',
        'sensitive',
        'spiCat',
      ],
      properties: {
        version: { const: 'KI-CR-v1.1.0' },
        jurisdiction: { type: 'string' },
        consentTimestamp: { type: 'integer', description: 'Seconds since 1970-01-01T00:00:00Z' },
        collectionMethod: { type: 'string' },
        consentReceiptID: { type: 'string' },
        language: { type: 'string' },
        piiPrincipalId: { type: 'string' },
        piiControllers: {
          type: 'array',
          items: {
            type: 'object',
            required: ['piiController', 'contact', 'address', 'email', 'phone'],
            properties: { piiController: { type: 'string' }, piiControllerUrl: { type: 'string' } },
          },
        },
        policyUrl: { type: 'string' },
        services: {
          type: 'array',
          items: {
            type: 'object',
            required: ['service', 'purposes'],
            properties: {
              service: { type: 'string' },
              purposes: {
                type: 'array',
                items: {
                  type: 'object',
                  required: [
                    'purpose',
                    'purposeCategory',
                    'consentType',
                    'piiCategory',
                    'termination',
                    'thirdPartyDisclosure',
                  ],
                },
              },
            },
          },
        },
        sensitive: { type: 'boolean' },
        spiCat: { type: 'array', items: { type: 'string' } },
        evidence: { type: 'object' },
      },
    },
    ContactExport: {
      type: 'object',
      required: ['exportedAt', 'contact', 'consents', 'events'],
      properties: {
        exportedAt: { type: 'string', format: 'date-time' },
        contact: ref('Contact'),
        consents: {
          type: 'array',
          items: {
            type: 'object',
            required: ['id', 'receipt'],
            properties: { receipt: ref('ConsentReceipt') },
          },
        },
        events: { type: 'array', items: ref('Event') },
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
        'pausedUntil',
        'preferencesUrl',
      ],
      properties: {
        email: { type: 'string' },
        name: { type: ['string', 'null'] },
        phone: { type: ['string', 'null'] },
        locale: { type: ['string', 'null'] },
        timeZone: { type: ['string', 'null'] },
        region: { type: ['string', 'null'] },
        pausedUntil: {
          type: ['string', 'null'],
          format: 'date-time',
          description: 'Marketing email is paused until then (null: not paused)',
        },
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
        pausedUntil: {
          type: ['string', 'null'],
          format: 'date-time',
          description:
            'Pause marketing email until then: a future instant at most a year ahead; null ends a pause',
        },
      },
    },
  },
};
