// POST /webhooks/sendgrid: SendGrid's Event Webhook. The ECDSA P-256 signature covers the
// timestamp header followed by the RAW body bytes, so the body is read raw and verified before
// anything parses it (re-serialised JSON never verifies). Stale timestamps (over 5 minutes)
// are refused, which bounds how long a captured request could be replayed; sg_event_id makes
// a replay inside that window harmless.
import { EventWebhook, EventWebhookHeader } from '@sendgrid/eventwebhook';
import express, { Router } from 'express';
import type { AppContext } from '../app.ts';
import { AppError } from '../http/errors.ts';
import { originOf } from '../http/origin.ts';
import { applySendGridEvent, type EventOutcome, type SendGridEvent } from './provider-events.ts';

const MAX_SKEW_SECONDS = 5 * 60;

export function sendgridWebhookRoutes(ctx: AppContext) {
  const r = Router();
  const ew = new EventWebhook();
  const publicKey = ctx.config.sendgridWebhookPublicKey
    ? ew.convertPublicKeyToECDSA(ctx.config.sendgridWebhookPublicKey)
    : null;

  r.post('/webhooks/sendgrid', express.raw({ type: () => true, limit: '10mb' }), async (req, res) => {
    if (!publicKey) {
      throw new AppError(
        'forbidden',
        'The SendGrid webhook is not configured: set SENDGRID_WEBHOOK_PUBLIC_KEY.',
      );
    }
    const signature = req.get(EventWebhookHeader.SIGNATURE());
    const timestamp = req.get(EventWebhookHeader.TIMESTAMP());
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) {
      throw new AppError('forbidden', 'Missing or malformed SendGrid signature headers.');
    }
    if (Math.abs(ctx.now().getTime() / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) {
      throw new AppError('forbidden', 'The signature timestamp is more than 5 minutes from now.');
    }
    let valid = false;
    try {
      valid = ew.verifySignature(publicKey, body, signature, timestamp);
    } catch {
      valid = false;
    }
    if (!valid) throw new AppError('forbidden', 'The SendGrid signature does not verify.');

    let events: unknown;
    try {
      events = JSON.parse(body.toString('utf8'));
    } catch {
      throw new AppError('validation_failed', 'The body is not JSON.');
    }
    if (!Array.isArray(events)) throw new AppError('validation_failed', 'Expected a JSON array of events.');

    const origin = originOf(req, 'provider:sendgrid');
    const counts: Record<EventOutcome | 'failed', number> = {
      applied: 0,
      duplicate: 0,
      ignored: 0,
      failed: 0,
    };
    for (const ev of events) {
      try {
        counts[await applySendGridEvent(ctx, origin, (ev ?? {}) as SendGridEvent)]++;
      } catch (err) {
        // One event that cannot be applied must not hold back the rest; it is logged (by id,
        // never by address) and SendGrid is not asked to resend a batch that mostly landed.
        counts.failed++;
        ctx.logger.error(
          { err, sgEventId: (ev as SendGridEvent)?.sg_event_id },
          'SendGrid event not applied',
        );
      }
    }
    res.json({ received: events.length, ...counts });
  });
  return r;
}
