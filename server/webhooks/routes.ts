// Outbound webhooks API (scope `webhooks`): add, list, remove, replay from a cursor, roll the
// secret, send a test. Marking an endpoint first-party is the console's, for owners only.
import { Router } from 'express';
import type { AppContext } from '../app.ts';
import { apiOrigin } from '../http/origin.ts';
import { requireObjectBody } from '../http/validate.ts';
import {
  createEndpoint,
  deleteEndpoint,
  endpointById,
  endpointJson,
  listEndpoints,
  recentDeliveries,
  replayEndpoint,
  resumeEndpoint,
  rollSecret,
} from './service.ts';

export function webhookRoutes(ctx: AppContext) {
  const r = Router();
  const scope = ctx.apiAuth.require('webhooks');
  const policy = {
    production: ctx.config.env === 'production',
    allowPrivate: ctx.config.webhookAllowPrivateUrls,
  };

  r.post('/v1/webhooks', scope, requireObjectBody, async (req, res) => {
    const e = await createEndpoint(ctx, apiOrigin(req), req.body, policy);
    res.status(201).json(endpointJson(e, { secret: true })); // the secret is shown this once
  });
  r.get('/v1/webhooks', scope, async (_req, res) => {
    res.json({ webhooks: (await listEndpoints(ctx.db.knex)).map((e) => endpointJson(e)) });
  });
  r.get('/v1/webhooks/:id', scope, async (req, res) => {
    const e = await endpointById(ctx.db.knex, String(req.params.id));
    const deliveries = await recentDeliveries(ctx.db.knex, e.id);
    res.json({
      ...endpointJson(e),
      deliveries: deliveries.map((d) => ({
        eventId: Number(d.event_id),
        attempt: d.attempt,
        status: d.status,
        error: d.error,
        durationMs: d.duration_ms,
        at: (d.created_at as Date).toISOString(),
      })),
    });
  });
  r.delete('/v1/webhooks/:id', scope, async (req, res) => {
    await deleteEndpoint(ctx, apiOrigin(req), String(req.params.id));
    res.status(204).end();
  });
  r.post('/v1/webhooks/:id/replay', scope, requireObjectBody, async (req, res) => {
    res.json(endpointJson(await replayEndpoint(ctx, apiOrigin(req), String(req.params.id), req.body.after)));
  });
  r.post('/v1/webhooks/:id/resume', scope, async (req, res) => {
    res.json(endpointJson(await resumeEndpoint(ctx, apiOrigin(req), String(req.params.id))));
  });
  r.post('/v1/webhooks/:id/roll-secret', scope, async (req, res) => {
    res.json(endpointJson(await rollSecret(ctx, apiOrigin(req), String(req.params.id)), { secret: true }));
  });
  return r;
}
