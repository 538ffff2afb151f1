// Where an allowed message goes: SendGrid through the official @sendgrid/mail, or, without
// SENDGRID_API_KEY, nowhere but the messages table (the local outbox a developer reads with
// `npm run cli -- outbox:list` or GET /api/v1/messages/{id}).
import sgClient from '@sendgrid/client';
import sgMail from '@sendgrid/mail';
import type { Config } from '../config.ts';

/** Only what SendGrid needs to deliver: the address, the message, and ids to map events back. */
export interface Envelope {
  messageId: string;
  contactId: string | null;
  to: string;
  from: string;
  subject: string;
  html: string | null;
  text: string | null;
  topic: string;
  kind: 'marketing' | 'operational';
  headers: Record<string, string>;
  sendgridGroupId: number | null;
}

export type Delivery =
  | { ok: true; providerMessageId: string | null; attempts: number }
  | { ok: false; error: string; attempts: number };

export interface Transport {
  name: 'sendgrid' | 'outbox';
  deliver(envelope: Envelope): Promise<Delivery>;
}

export const outboxTransport: Transport = {
  name: 'outbox',
  deliver: async () => ({ ok: true, providerMessageId: null, attempts: 0 }),
};

export interface RetryPolicy {
  /** Waits before each retry; SPEC: up to 3 retries within 10 s. */
  delaysMs: number[];
}

export const DEFAULT_RETRY: RetryPolicy = { delaysMs: [500, 1500, 3000] };

type SendGridError = Error & {
  code?: number;
  response?: { headers?: Record<string, string>; body?: unknown };
};

/** 429 and 5xx are worth retrying; other 4xx (bad key, bad request) are not. */
function retryable(err: SendGridError) {
  return err.code === 429 || (typeof err.code === 'number' && err.code >= 500) || err.code === undefined;
}

function describe(err: SendGridError): string {
  const body = err.response?.body as { errors?: { message?: string }[] } | undefined;
  const detail = body?.errors
    ?.map((e) => e.message)
    .filter(Boolean)
    .join('; ');
  return `${err.code ? `HTTP ${err.code}` : 'network error'}: ${detail || err.message}`.slice(0, 1000);
}

export function sendgridTransport(config: Config, retry: RetryPolicy = DEFAULT_RETRY): Transport {
  // STACK.md: setApiKey first (it resets baseUrl), then the base URL, then hand the client to
  // a MailService of our own (the package's default export is a process-wide singleton).
  const ClientClass = (sgClient as unknown as { Client: new () => typeof sgClient }).Client;
  const client = new ClientClass();
  client.setApiKey(config.sendgridApiKey as string);
  client.setDefaultRequest('baseUrl', config.sendgridApiUrl);
  const MailService = sgMail.constructor as new () => typeof sgMail;
  const mail = new MailService();
  mail.setClient(client);

  return {
    name: 'sendgrid',
    async deliver(e) {
      const customArgs: Record<string, string> = { message_id: e.messageId, topic: e.topic };
      if (e.contactId) customArgs.contact_id = e.contactId;
      const data = {
        to: e.to,
        from: e.from,
        subject: e.subject,
        ...(e.text != null ? { text: e.text } : {}),
        ...(e.html != null ? { html: e.html } : {}),
        headers: e.headers,
        categories: [e.topic],
        customArgs,
        // We run the unsubscribe links; SendGrid's own footer link would bypass our ledger.
        trackingSettings: { subscriptionTracking: { enable: false } },
        // Account notices must reach people who left marketing, whatever SendGrid's lists say.
        ...(e.kind === 'operational'
          ? { mailSettings: { bypassUnsubscribeManagement: { enable: true } } }
          : e.sendgridGroupId
            ? { asm: { groupId: e.sendgridGroupId } }
            : {}),
      };
      let attempts = 0;
      for (;;) {
        attempts++;
        try {
          const [response] = await mail.send(data as Parameters<typeof mail.send>[0]);
          const id = response.headers?.['x-message-id'];
          return { ok: true, providerMessageId: typeof id === 'string' ? id : null, attempts };
        } catch (err) {
          const e2 = err as SendGridError;
          const wait = retry.delaysMs[attempts - 1];
          if (!retryable(e2) || wait === undefined) return { ok: false, error: describe(e2), attempts };
          const after = Number(e2.response?.headers?.['retry-after']);
          await new Promise((r) =>
            setTimeout(r, Number.isFinite(after) ? Math.min(after * 1000, 3000) : wait),
          );
        }
      }
    },
  };
}

export function transportFor(config: Config): Transport {
  return config.sendgridApiKey ? sendgridTransport(config) : outboxTransport;
}
