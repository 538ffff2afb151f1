// The mail gateway's one send path: decide at send time with the same decide() as the check
// API, build the unsubscribe headers and links, store the message, then hand it to the
// transport. Nothing reaches a transport without an allowed decision made in this function.
import type { Core } from '../core.ts';
import { AppError } from '../http/errors.ts';
import { checkOne, normaliseRecipient } from '../permission/service.ts';
import { preferencesUrl, unsubscribeBlock } from '../tokens/tokens.ts';

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

const escapeHtml = (s: string) =>
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

export async function sendMessage(core: Core, msg: OutgoingMessage): Promise<SendResult> {
  const recipient = normaliseRecipient('email', msg.to, core.config.defaultPhoneRegion);
  if (!recipient.ok) {
    throw new AppError('validation_failed', 'The "to" address is not a valid email address.', [
      { field: 'to', message: recipient.reason },
    ]);
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
      .insert({ ...base, status: 'suppressed', reason: decision.reason, transport: 'outbox' })
      .returning('id');
    return { id: row.id, status: 'suppressed', reason: decision.reason };
  }

  const headers: Record<string, string> = {};
  const links: Record<string, string> = {};
  if (decision.contactId) {
    links.preferences_url = preferencesUrl(core.config.baseUrl, core.config.tokenKeys, decision.contactId);
  }
  if (decision.reason === 'subscribed' && decision.contactId) {
    const block = unsubscribeBlock(core.config.baseUrl, core.config.tokenKeys, decision.contactId, msg.topic);
    Object.assign(headers, block.headers);
    links.unsubscribe_url = block.url;
  }
  const [row] = await core.db
    .knex('messages')
    .insert({
      ...base,
      html: fillLinks(msg.html, links, true),
      text: fillLinks(msg.text, links, false),
      headers: JSON.stringify(headers),
      status: 'sent',
      transport: 'outbox',
      attempts: 1,
      sent_at: new Date(),
    })
    .returning('id');
  return { id: row.id, status: 'sent', transport: 'outbox' };
}
