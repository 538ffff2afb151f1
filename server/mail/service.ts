// The mail gateway's one send path: decide at send time with the same decide() as the check
// API, build the unsubscribe headers and links, store the message, then hand it to the
// transport. Nothing reaches a transport without an allowed decision made in this function.
import type { Knex } from 'knex';
import type { Core } from '../core.ts';
import { AppError } from '../http/errors.ts';
import { checkOne, normaliseRecipient, unknownTopic } from '../permission/service.ts';
import { topicBySlug } from '../preferences/topics.ts';
import { preferencesUrl, unsubscribeBlock } from '../tokens/tokens.ts';
import type { Transport } from './transport.ts';

export interface OutgoingMessage {
  to: string;
  topic: string;
  subject: string;
  html?: string | null;
  text?: string | null;
  from?: string;
  apiKeyId?: string | null;
}

export type SendResult =
  | { id: string; status: 'sent'; transport: 'outbox' | 'sendgrid' }
  | { id: string; status: 'suppressed'; reason: string };

const UNSUBSCRIBE_PLACEHOLDER = /\{\{\s*unsubscribe_url\s*\}\}/;

export const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/** Replaces {{unsubscribe_url}} and {{preferences_url}}; URLs are HTML-escaped in html. */
export function fillLinks(body: string | null | undefined, links: Record<string, string>, html: boolean) {
  if (body == null) return null;
  return body.replace(/\{\{\s*(unsubscribe_url|preferences_url)\s*\}\}/g, (m, name: string) => {
    const url = links[name];
    if (url === undefined) return m;
    return html ? escapeHtml(url) : url;
  });
}

/** Gmail and Yahoo want a visible unsubscribe link in marketing mail, not only the header. */
export function missingUnsubscribeLink(msg: Pick<OutgoingMessage, 'html' | 'text'>) {
  const bodies = [
    ['html', msg.html],
    ['text', msg.text],
  ] as const;
  return bodies.filter(([, b]) => b != null && !UNSUBSCRIBE_PLACEHOLDER.test(b)).map(([name]) => name);
}

export interface Mailer {
  transport: Transport['name'];
  send(msg: OutgoingMessage): Promise<SendResult>;
}

export function createMailer(core: Core, transport: Transport): Mailer {
  return {
    transport: transport.name,
    async send(msg) {
      const recipient = normaliseRecipient('email', msg.to, core.config.defaultPhoneRegion);
      if (!recipient.ok) {
        throw new AppError('validation_failed', 'The "to" address is not a valid email address.', [
          { field: 'to', message: recipient.reason },
        ]);
      }
      const topic = await topicBySlug(core.db.knex, msg.topic);
      if (!topic) throw unknownTopic(msg.topic);
      if (topic.kind === 'marketing') {
        const missing = missingUnsubscribeLink(msg);
        if (missing.length) {
          throw new AppError(
            'validation_failed',
            'Marketing mail needs a visible unsubscribe link: put {{unsubscribe_url}} in the body.',
            missing.map((field) => ({ field, message: 'has no {{unsubscribe_url}}' })),
          );
        }
      }

      const decision = await checkOne(core, new Date(), 'email', msg.topic, recipient);
      const from = msg.from ?? core.config.mailFrom;
      const base = {
        api_key_id: msg.apiKeyId ?? null,
        contact_id: decision.contactId,
        to_email: recipient.display,
        from_email: from,
        topic: msg.topic,
        subject: msg.subject,
      };
      if (!decision.allowed) {
        const [row] = await core.db
          .knex('messages')
          .insert({ ...base, status: 'suppressed', reason: decision.reason, transport: transport.name })
          .returning('id');
        return { id: row.id, status: 'suppressed', reason: decision.reason };
      }

      const headers: Record<string, string> = {};
      const links: Record<string, string> = {};
      if (decision.contactId) {
        links.preferences_url = preferencesUrl(
          core.config.baseUrl,
          core.config.tokenKeys,
          decision.contactId,
        );
      }
      if (topic.kind === 'marketing' && decision.contactId) {
        const block = unsubscribeBlock(
          core.config.baseUrl,
          core.config.tokenKeys,
          decision.contactId,
          msg.topic,
        );
        Object.assign(headers, block.headers);
        links.unsubscribe_url = block.url;
      }
      const html = fillLinks(msg.html, links, true);
      const text = fillLinks(msg.text, links, false);
      const [row] = await core.db
        .knex('messages')
        .insert({
          ...base,
          html,
          text,
          headers: JSON.stringify(headers),
          status: 'pending',
          transport: transport.name,
        })
        .returning('id');

      const delivery = await transport.deliver({
        messageId: row.id,
        contactId: decision.contactId,
        to: recipient.display,
        from,
        subject: msg.subject,
        html,
        text,
        topic: msg.topic,
        kind: topic.kind,
        headers,
        sendgridGroupId: topic.sendgrid_group_id,
      });
      if (!delivery.ok) {
        await core.db.knex('messages').where({ id: row.id }).update({
          status: 'failed',
          provider_error: delivery.error,
          attempts: delivery.attempts,
          updated_at: new Date(),
        });
        throw new AppError(
          'provider_failed',
          `The mail provider did not accept the message after ${delivery.attempts} tries (${delivery.error}). It is kept as failed: ${row.id}.`,
        );
      }
      await core.db.knex('messages').where({ id: row.id }).update({
        status: 'sent',
        provider_message_id: delivery.providerMessageId,
        attempts: delivery.attempts,
        sent_at: new Date(),
        updated_at: new Date(),
      });
      return { id: row.id, status: 'sent', transport: transport.name };
    },
  };
}

export interface MessageRow {
  id: string;
  contact_id: string | null;
  to_email: string;
  from_email: string;
  topic: string;
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string> | string;
  status: string;
  reason: string | null;
  transport: string;
  provider_message_id: string | null;
  provider_error: string | null;
  attempts: number;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
}

export function messageJson(m: MessageRow) {
  return {
    id: m.id,
    to: m.to_email,
    from: m.from_email,
    topic: m.topic,
    subject: m.subject,
    status: m.status,
    reason: m.reason,
    transport: m.transport,
    headers: typeof m.headers === 'string' ? JSON.parse(m.headers) : m.headers,
    html: m.html,
    text: m.text,
    providerMessageId: m.provider_message_id,
    providerError: m.provider_error,
    attempts: m.attempts,
    createdAt: m.created_at.toISOString(),
    sentAt: m.sent_at ? m.sent_at.toISOString() : null,
  };
}

export function messageById(q: Knex, id: string) {
  return q<MessageRow>('messages').where({ id }).first();
}

export function recentMessages(q: Knex, limit: number) {
  return q<MessageRow>('messages').orderBy('created_at', 'desc').limit(limit);
}
