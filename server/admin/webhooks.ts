// Console: outbound webhook endpoints (owners). Add (the secret shown once), the delivery log,
// test, replay from a cursor, roll the secret, resume a paused endpoint, mark first-party (the
// one place that can: consent events then carry the phone number), remove.
import { randomUUID } from 'node:crypto';
import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import { field, fieldValues } from '../http/form-body.ts';
import { signatures } from '../webhooks/dispatcher.ts';
import {
  createEndpoint,
  deleteEndpoint,
  EVENT_TYPES,
  endpointById,
  listEndpoints,
  recentDeliveries,
  replayEndpoint,
  resumeEndpoint,
  rollSecret,
  setFirstParty,
  webhookLag,
} from '../webhooks/service.ts';
import { can, originOf, render } from './render.ts';

export function webhookConsoleRoutes(ctx: AppContext) {
  const r = Router();
  const policy = {
    production: ctx.config.env === 'production',
    allowPrivate: ctx.config.webhookAllowPrivateUrls,
  };
  const owner = can('owner');

  const listPage = async (req: Request, res: Response, locals: object = {}) => {
    const [endpoints, lag] = await Promise.all([listEndpoints(ctx), webhookLag(ctx)]);
    render(req, res, 'webhooks', 'Webhooks', {
      endpoints: endpoints.map((e) => ({ ...e, lag: lag.find((l) => l.id === e.id)?.lag ?? 0 })),
      eventTypes: EVENT_TYPES,
      secret: null,
      ...locals,
    });
  };
  const detailPage = async (req: Request, res: Response, id: string, locals: object = {}) => {
    const e = await endpointById(ctx, id);
    const [deliveries, lag] = await Promise.all([recentDeliveries(ctx, e.id), webhookLag(ctx)]);
    render(req, res, 'webhook', e.url, {
      e,
      deliveries,
      lag: lag.find((l) => l.id === e.id)?.lag ?? 0,
      secret: null,
      test: null,
      ...locals,
    });
  };
  const id = (req: Request) => String(req.params.id);

  r.get('/admin/webhooks', owner, (req, res) => listPage(req, res));
  r.post('/admin/webhooks', owner, async (req, res) => {
    const events = fieldValues(req, 'events');
    const e = await createEndpoint(
      ctx,
      originOf(req),
      {
        url: (field(req, 'url') ?? '').trim(),
        events,
        description: (field(req, 'description') ?? '').trim() || null,
      },
      policy,
    );
    await detailPage(req, res, e.id, { secret: e.secret }); // shown this once
  });
  r.get('/admin/webhooks/:id', owner, (req, res) => detailPage(req, res, id(req)));
  r.post('/admin/webhooks/:id/resume', owner, async (req, res) => {
    await resumeEndpoint(ctx, originOf(req), id(req));
    res.redirect(303, `/admin/webhooks/${id(req)}?done=resumed`);
  });
  r.post('/admin/webhooks/:id/replay', owner, async (req, res) => {
    await replayEndpoint(ctx, originOf(req), id(req), (field(req, 'after') ?? '').trim());
    res.redirect(303, `/admin/webhooks/${id(req)}?done=replaying`);
  });
  r.post('/admin/webhooks/:id/roll-secret', owner, async (req, res) => {
    const e = await rollSecret(ctx, originOf(req), id(req));
    await detailPage(req, res, e.id, { secret: e.secret });
  });
  r.post('/admin/webhooks/:id/first-party', owner, async (req, res) => {
    await setFirstParty(ctx, originOf(req), id(req), field(req, 'firstParty') === 'true');
    res.redirect(303, `/admin/webhooks/${id(req)}?done=saved`);
  });
  r.post('/admin/webhooks/:id/delete', owner, async (req, res) => {
    await deleteEndpoint(ctx, originOf(req), id(req));
    res.redirect(303, '/admin/webhooks?done=removed');
  });
  // A signed test message, sent now; the answer is shown, nothing is recorded on the feed.
  r.post('/admin/webhooks/:id/test', owner, async (req, res) => {
    const e = await endpointById(ctx, id(req));
    const msgId = `test_${randomUUID()}`;
    const at = new Date();
    const body = JSON.stringify({ id: msgId, type: 'webhook.test', occurredAt: at.toISOString(), data: {} });
    let test: string;
    try {
      const answer = await fetch(e.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': msgId,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signatures(e, msgId, at, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      test = `The endpoint answered ${answer.status}${answer.ok ? ': it works.' : '.'}`;
    } catch (err) {
      test = `No answer: ${(err as Error).message}`.slice(0, 300);
    }
    await detailPage(req, res, e.id, { test });
  });
  return r;
}
