// POST /webhooks/sendgrid: SendGrid's Event Webhook. The ECDSA P-256 signature covers the
// timestamp header followed by the RAW body bytes, so the body is read raw and verified before
// anything parses it (re-serialised JSON never verifies). Stale timestamps (over 5 minutes)
// are refused, which bounds how long a captured request could be replayed; sg_event_id makes
// a replay inside that window harmless.
//
// The answer decides whether SendGrid delivers the batch again, so it must never say 200 for an
// opt-out that did not land: when an event fails for a reason that may pass (the database is
// unreachable or too slow), the batch is answered 503 and SendGrid retries it; the events that
// did land are recognised by their sg_event_id and not applied twice. A malformed event is
// skipped and counted: retrying it would never help.
import express, { Router } from 'express';
import type { AppContext } from '../app.ts';
import { withDeadline } from '../deadline.ts';
import { DomainError, isDatabaseUnavailable } from '../errors.ts';
import { cleanProviderJson } from '../http/hygiene.ts';
import { originOf } from '../http/origin.ts';
import { applySendGridEvent, type EventOutcome, type SendGridEvent } from './provider-events.ts';
import {
  SIGNATURE_HEADER,
  sendgridPublicKey,
  TIMESTAMP_HEADER,
  verifySendGridSignature,
} from './signature.ts';

const MAX_SKEW_SECONDS = 5 * 60;

/** Errors a later delivery may not meet: bad data the database refuses (classes 22 and 23). */
function isPermanent(err: unknown) {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^2[23]/.test(code) && !isDatabaseUnavailable(err);
}

export function sendgridWebhookRoutes(ctx: AppContext) {
  const r = Router();
  const publicKey = ctx.config.sendgridWebhookPublicKey
    ? sendgridPublicKey(ctx.config.sendgridWebhookPublicKey)
    : null;
  const budgetMs = ctx.config.webhookBudgetMs;

  r.post('/webhooks/sendgrid', express.raw({ type: () => true, limit: '10mb' }), async (req, res) => {
    if (!publicKey) {
      throw new DomainError(
        'forbidden',
        'The SendGrid webhook is not configured: set SENDGRID_WEBHOOK_PUBLIC_KEY.',
      );
    }
    const signature = req.get(SIGNATURE_HEADER);
    const timestamp = req.get(TIMESTAMP_HEADER);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) {
      throw new DomainError('forbidden', 'Missing or malformed SendGrid signature headers.');
    }
    if (Math.abs(ctx.now().getTime() / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) {
      throw new DomainError('forbidden', 'The signature timestamp is more than 5 minutes from now.');
    }
    if (!verifySendGridSignature(publicKey, body, signature, timestamp)) {
      throw new DomainError('forbidden', 'The SendGrid signature does not verify.');
    }

    const events = cleanProviderJson(body.toString('utf8'));
    if (events === undefined) throw new DomainError('validation_failed', 'The body is not JSON.');
    if (!Array.isArray(events))
      throw new DomainError('validation_failed', 'Expected a JSON array of events.');

    const origin = originOf(req, 'provider:sendgrid');
    const counts: Record<EventOutcome | 'failed' | 'pending', number> = {
      applied: 0,
      duplicate: 0,
      malformed: 0,
      failed: 0,
      pending: 0,
    };
    const deadline = Date.now() + budgetMs;
    let retry = false;
    for (const ev of events) {
      if (retry) {
        counts.pending++;
        continue;
      }
      const isObject = ev !== null && typeof ev === 'object' && !Array.isArray(ev);
      if (!isObject) {
        counts.malformed++;
        continue;
      }
      try {
        const outcome = await withDeadline(
          applySendGridEvent(ctx, origin, ev as SendGridEvent),
          deadline - Date.now(),
          'SendGrid event',
        );
        counts[outcome]++;
      } catch (err) {
        const sgEventId = (ev as SendGridEvent).sg_event_id;
        if (isPermanent(err)) {
          counts.failed++;
          ctx.logger.error({ err, sgEventId }, 'SendGrid event refused by the database; skipped');
          continue;
        }
        // The database is away or slow: stop here and ask SendGrid for the whole batch again.
        retry = true;
        counts.pending++;
        ctx.metrics.optOutsDeferred.inc({ path: 'sendgrid' });
        ctx.logger.error({ err, sgEventId }, 'SendGrid batch not fully applied; answering 503');
      }
    }
    if (retry) {
      res.status(503).json({
        error: {
          code: 'unavailable',
          message: 'Some events could not be applied now; deliver the batch again.',
        },
        received: events.length,
        ...counts,
      });
      return;
    }
    res.json({ received: events.length, ...counts });
  });
  return r;
}
