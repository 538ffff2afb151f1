// Mail gateway API (scope `send`): POST /api/v1/messages, POST /api/v1/messages/batch,
// GET /api/v1/messages/{id}. Thin: shape checks here, decisions and sending in the service.

import type { Request, Response } from 'express';
import type { AppContext } from '../app.ts';
import { DomainError } from '../errors.ts';
import { errorResponse, idempotencyHeader, json, messageExample, ref } from '../http/openapi.ts';
import type { ApiRoute } from '../http/route-table.ts';
import { isUuid } from '../ids.ts';
import { checkKey } from './idempotency.ts';
import { readMessage } from './rules.ts';
import { messageById, messageJson, sendMessage, sendMessageBatch } from './service.ts';

export const MAX_MESSAGE_BATCH = 1000;

function reply(res: Response, answer: { status: number; body: unknown; replayed: boolean }) {
  if (answer.replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(answer.status).json(answer.body);
}

export function mailApi(ctx: AppContext): ApiRoute[] {
  const keyOf = (req: Request) => {
    const key = req.get('Idempotency-Key');
    checkKey(key);
    return key;
  };

  return [
    {
      method: 'post',
      path: '/v1/messages',
      operationId: 'sendMessage',
      tag: 'Mail',
      scope: 'send',
      body: 'json',
      errors: ['conflict', 'provider_failed'],
      doc: {
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
        },
      },
      handler: async (req, res) => {
        const key = keyOf(req);
        const read = readMessage(req.body);
        if (!read.ok) throw new DomainError('validation_failed', 'The message is not valid.', read.details);
        const answer = await sendMessage(ctx, ctx.mailer, req.caller?.apiKeyId as string, key, read.msg);
        reply(res, answer);
      },
    },
    {
      method: 'post',
      path: '/v1/messages/batch',
      operationId: 'sendMessageBatch',
      tag: 'Mail',
      scope: 'send',
      body: 'json',
      errors: ['conflict'],
      doc: {
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
        },
      },
      handler: async (req, res) => {
        const key = keyOf(req);
        const list = (req.body as { messages?: unknown }).messages;
        if (!Array.isArray(list) || list.length === 0 || list.length > MAX_MESSAGE_BATCH) {
          throw new DomainError(
            'validation_failed',
            `Send {"messages": [...]} with 1 to ${MAX_MESSAGE_BATCH} messages.`,
            [{ field: 'messages', message: `an array of 1 to ${MAX_MESSAGE_BATCH} messages` }],
          );
        }
        const answer = await sendMessageBatch(ctx, ctx.mailer, req.caller?.apiKeyId as string, key, list);
        reply(res, answer);
      },
    },
    {
      method: 'get',
      path: '/v1/messages/{id}',
      operationId: 'getMessage',
      tag: 'Mail',
      scope: 'send',
      errors: ['not_found'],
      doc: {
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
        },
      },
      handler: async (req, res) => {
        const id = String(req.params.id);
        const row = isUuid(id) ? await messageById(ctx, id) : undefined;
        if (!row) throw new DomainError('not_found', 'No message with this id.');
        res.json(messageJson(row));
      },
    },
  ];
}
