// POST /webhooks/sms: inbound texts in Twilio's format. The signature (X-Twilio-Signature) is
// checked with Twilio's own validator over BASE_URL + the path and query (the public URL Twilio
// was given, not the internal host behind the proxy) and the form fields. STOP and its kin
// revoke at once and get one confirmation; START/UNSTOP restore a keyword revocation; HELP
// says who we are and how to stop. Replies are TwiML and carry no marketing.
//
// The message id is claimed in the same transaction as the text's effect, so Twilio's retry
// after a 5xx is applied and a retry after success is not. While the database is unreachable
// (or slower than the budget), an opt-out is kept in the durable local spool and confirmed; any
// other text is answered 503 for Twilio to retry.

import express, { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import { knownBrand } from '../brand/service.ts';
import { parsePhone } from '../contacts/service.ts';
import { withDeadline } from '../deadline.ts';
import { DomainError, isDatabaseUnavailable } from '../errors.ts';
import { cleanProviderForm } from '../http/hygiene.ts';
import { originOf } from '../http/origin.ts';
import { smsIntent } from './rules.ts';
import { applyInboundText, type InboundText } from './service.ts';
import { twilioSdk } from './twilio-sdk.ts';

async function twiml(res: Response, message?: string) {
  const twilio = await twilioSdk();
  const reply = new twilio.twiml.MessagingResponse();
  if (message) reply.message(message);
  res.type('text/xml').send(reply.toString());
}

export function smsWebhookRoutes(ctx: AppContext) {
  const r = Router();
  const stopped = (channels: 'sms' | 'both', brand = knownBrand(ctx).name) =>
    channels === 'both'
      ? `${brand}: you are unsubscribed and will get no more texts or calls from us. Reply START to get texts again.`
      : `${brand}: you are unsubscribed and will get no more text messages from us. Reply START to resubscribe.`;

  r.post(
    '/webhooks/sms',
    express.urlencoded({ extended: false, limit: '64kb' }),
    async (req: Request, res) => {
      const token = ctx.config.twilioAuthToken;
      if (!token)
        throw new DomainError('forbidden', 'The SMS webhook is not configured: set TWILIO_AUTH_TOKEN.');
      const signature = req.get('X-Twilio-Signature');
      const params = (req.body ?? {}) as Record<string, string>;
      const url = `${ctx.config.baseUrl}${req.originalUrl}`;
      // The signature covers the fields exactly as sent; they are cleaned only after it verifies.
      const twilio = await twilioSdk();
      if (!signature || !twilio.validateRequest(token, signature, url, params)) {
        throw new DomainError('forbidden', 'The Twilio signature does not verify.');
      }
      cleanProviderForm(params);
      const from = parsePhone(params.From, ctx.config.defaultPhoneRegion);
      const intent = smsIntent(params.Body, params.OptOutType);
      if (!from.ok || !intent) return twiml(res);
      // Twilio's Advanced Opt-Out has already replied (and blocks the number after a STOP):
      // a reply of ours would be a second message, or refused.
      const twilioReplied = typeof params.OptOutType === 'string' && params.OptOutType.trim() !== '';

      const text: InboundText = {
        sid:
          typeof params.MessageSid === 'string' && params.MessageSid ? params.MessageSid.slice(0, 100) : null,
        from: from.e164,
        intent,
        scope: ctx.config.smsRevocationScope,
      };
      const origin = originOf(req, 'provider:sms');
      const { name: brand, supportContact: support } = knownBrand(ctx);
      const isStop = intent === 'stop' || intent === 'stop_all';
      const stopScope = intent === 'stop_all' || text.scope === 'number' ? 'both' : 'sms';
      let result: Awaited<ReturnType<typeof applyInboundText>>;
      try {
        result = await withDeadline(
          applyInboundText(ctx, origin, text),
          ctx.config.webhookBudgetMs,
          'inbound text',
        );
      } catch (err) {
        if (!isDatabaseUnavailable(err)) throw err;
        if (!isStop) throw err; // 503: Twilio retries; nothing is lost by waiting for a START or HELP
        await ctx.spool.add(text, origin, ctx.now());
        ctx.metrics.optOutsDeferred.inc({ path: 'sms' });
        ctx.logger.warn({ messageSid: text.sid }, 'database unreachable: inbound opt-out spooled');
        return twiml(res, twilioReplied ? undefined : stopped(stopScope));
      }
      if (result.duplicate || twilioReplied) return twiml(res);
      switch (intent) {
        case 'stop':
        case 'stop_all':
          return twiml(res, stopped(stopScope));
        case 'start':
          return twiml(
            res,
            result.restored
              ? `${brand}: you are resubscribed to text messages. Msg & data rates may apply. Reply STOP to cancel.`
              : `${brand}: there is no text subscription to restore for this number. To agree to texts, visit ${support}.`,
          );
        case 'help':
          return twiml(
            res,
            `${brand}: account and marketing texts. Help: ${support}. Msg frequency varies. Msg & data rates may apply. Reply STOP to cancel.`,
          );
      }
    },
  );
  return r;
}
