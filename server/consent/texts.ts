// Texts the center sends itself: the confirmation after a consent is given on the web or through
// the API (CTIA: brand, what the messages are for, frequency, HELP and STOP, rates). Through
// Twilio's REST API with the twilio client when TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and
// TWILIO_FROM are set, else kept in the local outbox (text_messages). Sent as a durable job that
// holds the consent's id, never the number.

import { currentBrand } from '../brand/service.ts';
import type { Core } from '../core.ts';
import { consentById, insertText } from './queries.ts';
import { twilioSdk } from './twilio-sdk.ts';

/** Twilio: the number has opted out at the carrier (replied STOP to our sender). Never retried. */
const OPTED_OUT = 21610;

export type TextKind = 'consent_confirmation' | 'confirmation_code';

export interface Texter {
  transport: 'twilio' | 'outbox';
  /** Sends and records a text; throws only when a retry may help. */
  send(t: {
    contactId: string | null;
    to: string;
    kind: TextKind;
    body: string;
  }): Promise<{ ok: boolean; error?: string }>;
}

export function createTexter(core: Core): Texter {
  const { twilioAccountSid: sid, twilioAuthToken: token, twilioFrom: from, twilioApiUrl } = core.config;
  const configured = Boolean(sid && token && from);
  let client: ReturnType<Awaited<ReturnType<typeof twilioSdk>>> | null = null;
  const clientNow = async () => {
    if (!client && configured) {
      client = (await twilioSdk())(sid as string, token as string);
      client.api.baseUrl = twilioApiUrl; // SendGrid's pattern: a local fake in tests
    }
    return client;
  };
  const record = (row: Record<string, unknown>) => insertText(core.db.knex, row);
  return {
    transport: configured ? 'twilio' : 'outbox',
    async send(t) {
      const base = { contact_id: t.contactId, to_phone: t.to, kind: t.kind, body: t.body };
      const client = await clientNow();
      if (!client || !from) {
        await record({ ...base, transport: 'outbox', status: 'sent' });
        return { ok: true };
      }
      try {
        const message = await client.messages.create({ to: t.to, from, body: t.body });
        await record({ ...base, transport: 'twilio', status: 'sent', provider_sid: message.sid });
        return { ok: true };
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === OPTED_OUT) {
          await record({
            ...base,
            transport: 'twilio',
            status: 'failed',
            provider_error: `21610: the number opted out at the carrier; not retried`,
          });
          return { ok: false, error: 'opted_out' };
        }
        throw err; // the job is retried
      }
    },
  };
}

/** The CTIA confirmation, in the brand's name. */
export function confirmationText(brand: string) {
  return `${brand}: you agreed to get texts about your account and our offers. Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to cancel.`;
}

/** The job: one confirmation per consent given on the web or through the API. */
export async function sendConsentConfirmation(core: Core, texter: Texter, consentId: string) {
  const consent = await consentById(core.db.knex, consentId);
  if (consent?.status !== 'granted' || consent.channel !== 'sms') return;
  await texter.send({
    contactId: consent.contact_id,
    to: consent.phone,
    kind: 'consent_confirmation',
    body: confirmationText((await currentBrand(core)).name),
  });
}
