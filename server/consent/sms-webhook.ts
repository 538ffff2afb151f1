// POST /webhooks/sms: inbound texts in Twilio's format. The signature (X-Twilio-Signature) is
// checked with Twilio's own validator over BASE_URL + the path and query (the public URL Twilio
// was given, not the internal host behind the proxy) and the form fields. STOP and its kin
// revoke at once and get one confirmation; START/UNSTOP restore a keyword revocation; HELP
// says who we are and how to stop. Replies are TwiML and carry no marketing. A replayed
// MessageSid changes nothing and gets no second reply.
import express, { type Request, type Response, Router } from 'express';
import twilio from 'twilio';
import type { AppContext } from '../app.ts';
import { parsePhone } from '../contacts/phone.ts';
import { AppError } from '../http/errors.ts';
import { originOf } from '../http/origin.ts';
import { smsIntent } from './rules.ts';
import { claimInboundText, restoreNumber, revokeNumber } from './service.ts';

function twiml(res: Response, message?: string) {
  const reply = new twilio.twiml.MessagingResponse();
  if (message) reply.message(message);
  res.type('text/xml').send(reply.toString());
}

export function smsWebhookRoutes(ctx: AppContext) {
  const r = Router();
  const brand = ctx.config.brandName;
  const support = ctx.config.supportContact;

  r.post(
    '/webhooks/sms',
    express.urlencoded({ extended: false, limit: '64kb' }),
    async (req: Request, res) => {
      const token = ctx.config.twilioAuthToken;
      if (!token)
        throw new AppError('forbidden', 'The SMS webhook is not configured: set TWILIO_AUTH_TOKEN.');
      const signature = req.get('X-Twilio-Signature');
      const params = (req.body ?? {}) as Record<string, string>;
      const url = `${ctx.config.baseUrl}${req.originalUrl}`;
      if (!signature || !twilio.validateRequest(token, signature, url, params)) {
        throw new AppError('forbidden', 'The Twilio signature does not verify.');
      }
      const from = parsePhone(params.From, ctx.config.defaultPhoneRegion);
      const intent = smsIntent(params.Body);
      if (!from.ok || !intent) return twiml(res);

      const sid =
        typeof params.MessageSid === 'string' && params.MessageSid ? params.MessageSid.slice(0, 100) : null;
      if (sid && !(await claimInboundText(ctx.db.knex, sid))) return twiml(res);
      const origin = originOf(req, 'provider:sms');
      switch (intent) {
        case 'stop':
          await revokeNumber(ctx, origin, from.e164, 'sms');
          return twiml(
            res,
            `${brand}: you are unsubscribed and will get no more text messages from us. Reply START to resubscribe.`,
          );
        case 'stop_all':
          await revokeNumber(ctx, origin, from.e164, 'sms');
          await revokeNumber(ctx, origin, from.e164, 'voice');
          return twiml(
            res,
            `${brand}: you are unsubscribed and will get no more texts or calls from us. Reply START to resubscribe to texts.`,
          );
        case 'start': {
          const restored = await restoreNumber(ctx, origin, from.e164, 'sms');
          return twiml(
            res,
            restored
              ? `${brand}: you are resubscribed to text messages. Msg & data rates may apply. Reply STOP to cancel.`
              : `${brand}: there is no text subscription to restore for this number. To agree to texts, visit ${support}.`,
          );
        }
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
