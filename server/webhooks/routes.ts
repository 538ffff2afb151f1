// Outbound webhooks API (scope `webhooks`): add, list, remove, replay from a cursor, roll the
// secret, send a test. Marking an endpoint first-party is the console's, for owners only.

import type { AppContext } from '../app.ts';
import { errorResponse, json, ref, webhookIdParam } from '../http/openapi.ts';
import { apiOrigin } from '../http/origin.ts';
import type { ApiRoute } from '../http/route-table.ts';
import {
  createEndpoint,
  deleteEndpoint,
  endpointJson,
  endpointWithDeliveries,
  listEndpoints,
  replayEndpoint,
  resumeEndpoint,
  rollSecret,
} from './service.ts';

export function webhookApi(ctx: AppContext): ApiRoute[] {
  return [
    {
      method: 'post',
      path: '/v1/webhooks',
      operationId: 'createWebhook',
      tag: 'Webhooks',
      scope: 'webhooks',
      body: 'json',
      doc: {
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
        },
      },
      handler: async (req, res) => {
        const e = await createEndpoint(ctx, apiOrigin(req), req.body, {
          production: ctx.config.env === 'production',
          allowPrivate: ctx.config.webhookAllowPrivateUrls,
        });
        res.status(201).json(endpointJson(e, { secret: true })); // the secret is shown this once
      },
    },
    {
      method: 'get',
      path: '/v1/webhooks',
      operationId: 'listWebhooks',
      tag: 'Webhooks',
      scope: 'webhooks',
      doc: {
        summary: 'List webhook endpoints with their state and last delivery (scope: webhooks)',
        responses: {
          '200': {
            description: 'The endpoints',
            content: json({
              type: 'object',
              properties: { webhooks: { type: 'array', items: ref('WebhookEndpoint') } },
            }),
          },
        },
      },
      handler: async (_req, res) => {
        res.json({ webhooks: (await listEndpoints(ctx)).map((e) => endpointJson(e)) });
      },
    },
    {
      method: 'get',
      path: '/v1/webhooks/{id}',
      operationId: 'getWebhook',
      tag: 'Webhooks',
      scope: 'webhooks',
      errors: ['not_found'],
      doc: {
        summary: 'One endpoint and its recent deliveries (scope: webhooks)',
        parameters: [webhookIdParam],
        responses: {
          '200': {
            description: 'The endpoint and its delivery log',
            content: json(ref('WebhookEndpoint')),
          },
          '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
        },
      },
      handler: async (req, res) => {
        res.json(await endpointWithDeliveries(ctx, String(req.params.id)));
      },
    },
    {
      method: 'delete',
      path: '/v1/webhooks/{id}',
      operationId: 'deleteWebhook',
      tag: 'Webhooks',
      scope: 'webhooks',
      errors: ['not_found'],
      doc: {
        summary: 'Remove an endpoint (scope: webhooks)',
        parameters: [webhookIdParam],
        responses: {
          '204': { description: 'Removed' },
          '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
        },
      },
      handler: async (req, res) => {
        await deleteEndpoint(ctx, apiOrigin(req), String(req.params.id));
        res.status(204).end();
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/{id}/replay',
      operationId: 'replayWebhook',
      tag: 'Webhooks',
      scope: 'webhooks',
      body: 'json',
      errors: ['not_found'],
      doc: {
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
        },
      },
      handler: async (req, res) => {
        res.json(
          endpointJson(await replayEndpoint(ctx, apiOrigin(req), String(req.params.id), req.body.after)),
        );
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/{id}/resume',
      operationId: 'resumeWebhook',
      tag: 'Webhooks',
      scope: 'webhooks',
      errors: ['not_found'],
      doc: {
        summary: 'Resume a paused endpoint from where it stopped (scope: webhooks)',
        parameters: [webhookIdParam],
        responses: {
          '200': { description: 'The endpoint', content: json(ref('WebhookEndpoint')) },
          '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
        },
      },
      handler: async (req, res) => {
        res.json(endpointJson(await resumeEndpoint(ctx, apiOrigin(req), String(req.params.id))));
      },
    },
    {
      method: 'post',
      path: '/v1/webhooks/{id}/roll-secret',
      operationId: 'rollWebhookSecret',
      tag: 'Webhooks',
      scope: 'webhooks',
      errors: ['not_found'],
      doc: {
        summary: 'A new secret; the old one still signs beside it for 24 h (scope: webhooks)',
        parameters: [webhookIdParam],
        responses: {
          '200': { description: 'The endpoint with its new secret', content: json(ref('WebhookEndpoint')) },
          '404': errorResponse('No such endpoint', 'not_found', 'No webhook endpoint with this id.'),
        },
      },
      handler: async (req, res) => {
        res.json(
          endpointJson(await rollSecret(ctx, apiOrigin(req), String(req.params.id)), { secret: true }),
        );
      },
    },
  ];
}
