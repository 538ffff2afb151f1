// The mail gateway's one send path: decide at send time with the same decide() as the check
// API, build the unsubscribe headers and links, store the message, then hand it to the
// transport. Nothing reaches a transport without an allowed decision made in this function.

import type { Knex } from 'knex';
import { type Brand, currentBrand } from '../brand/service.ts';
import { type Core, type Reader, sql } from '../core.ts';
import { jsonColumn } from '../db.ts';
import { DomainError } from '../errors.ts';
import { escapeHtml } from '../html.ts';
import { checkOne, normaliseRecipient, unknownTopic } from '../permission/service.ts';
import { topicBySlug } from '../preferences/service.ts';
import { preferencesUrl, unsubscribeBlock } from '../tokens/tokens.ts';
import { requestHash, withIdempotency } from './idempotency.ts';
import {
  eraseMessages,
  failPendingBefore,
  insertMessage,
  type MessageRow,
  messageRow,
  messageUnderKey,
  newestMessages,
  outboxPage,
  updateMessage,
} from './queries.ts';
import { readMessage } from './rules.ts';
import type { Transport } from './transport.ts';

export type { MessageRow };

export interface OutgoingMessage {
  to: string;
  topic: string;
  subject: string;
  html?: string | null;
  text?: string | null;
  from?: string;
  apiKeyId?: string | null;
  /** The Idempotency-Key of the request and the message's place in it (0 for a single send). */
  idempotency?: { key: string; index: number };
}

export type SendResult =
  | { id: string; status: 'sent'; transport: 'outbox' | 'sendgrid' }
  | { id: string; status: 'suppressed'; reason: string; retryAfter?: string }
  /** Handed to the provider by a request that stopped before it was confirmed: never sent again. */
  | { id: string; status: 'pending' };

/** What a request run again under its Idempotency-Key already stored for this message, if anything. */
async function storedUnderKey(
  knex: Knex,
  apiKeyId: string | null | undefined,
  idem: OutgoingMessage['idempotency'],
) {
  if (!idem || !apiKeyId) return undefined;
  const row = await messageUnderKey(knex, apiKeyId, idem.key, idem.index);
  if (!row) return undefined;
  if (row.status === 'suppressed')
    return { id: row.id, status: 'suppressed', reason: row.reason } as SendResult;
  if (row.status === 'pending') return { id: row.id, status: 'pending' } as SendResult;
  return { id: row.id, status: 'sent', transport: row.transport } as SendResult;
}

const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === '23505';

const UNSUBSCRIBE_PLACEHOLDER = /\{\{\s*unsubscribe_url\s*\}\}/;

/** Replaces {{unsubscribe_url}} and {{preferences_url}}; URLs are HTML-escaped in html. */
export function fillLinks(body: string | null | undefined, links: Record<string, string>, html: boolean) {
  if (body == null) return null;
  return body.replace(/\{\{\s*(unsubscribe_url|preferences_url)\s*\}\}/g, (m, name: string) => {
    const url = links[name];
    if (url === undefined) return m;
    return html ? escapeHtml(url) : url;
  });
}

const POSTAL_PLACEHOLDER = /\{\{\s*postal_address\s*\}\}/g;

/**
 * Fills {{postal_address}} with the brand's address; a body that shows no address gets a short
 * footer with it and the unsubscribe link. With no address configured the placeholder is emptied
 * and nothing is added (the console warns owners).
 */
export function withPostalAddress(
  body: string | null,
  brand: Pick<Brand, 'name' | 'postalAddress'>,
  unsubscribeUrl: string | undefined,
  html: boolean,
) {
  if (body == null) return null;
  const address = brand.postalAddress ?? '';
  const esc = (v: string) => (html ? escapeHtml(v) : v);
  const filled = body.replace(POSTAL_PLACEHOLDER, esc(address));
  if (!address || filled.includes(esc(address))) return filled;
  if (!html) {
    return `${filled}\n\n--\n${brand.name}, ${address.replace(/\s*\n\s*/g, ', ')}${
      unsubscribeUrl ? `\nUnsubscribe: ${unsubscribeUrl}` : ''
    }\n`;
  }
  const footer = `<p style="font-size:12px;color:#57606a;margin-top:24px">${esc(brand.name)} · ${esc(
    address,
  ).replace(/\n/g, ', ')}${unsubscribeUrl ? ` · <a href="${esc(unsubscribeUrl)}">Unsubscribe</a>` : ''}</p>`;
  const end = filled.search(/<\/body>/i);
  return end >= 0 ? `${filled.slice(0, end)}${footer}${filled.slice(end)}` : `${filled}${footer}`;
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
        throw new DomainError('validation_failed', 'The "to" address is not a valid email address.', [
          { field: 'to', message: recipient.reason },
        ]);
      }
      const topic = await topicBySlug(core.db.knex, msg.topic);
      if (!topic) throw unknownTopic(msg.topic);
      if (topic.kind === 'marketing') {
        const missing = missingUnsubscribeLink(msg);
        if (missing.length) {
          throw new DomainError(
            'validation_failed',
            'Marketing mail needs a visible unsubscribe link: put {{unsubscribe_url}} in the body.',
            missing.map((field) => ({ field, message: 'has no {{unsubscribe_url}}' })),
          );
        }
      }

      // A request run again under its key answers from what it stored: nothing is sent twice.
      const stored = await storedUnderKey(core.db.knex, msg.apiKeyId, msg.idempotency);
      if (stored) return stored;

      const decision = await checkOne(core, new Date(), 'email', msg.topic, recipient);
      const from = msg.from ?? core.config.mailFrom;
      const base = {
        api_key_id: msg.apiKeyId ?? null,
        contact_id: decision.contactId,
        to_email: recipient.display,
        from_email: from,
        topic: msg.topic,
        subject: msg.subject,
        idempotency_key: msg.idempotency?.key ?? null,
        request_index: msg.idempotency?.index ?? null,
      };
      // Another runner of the same request stored this message first: answer as it did.
      const insertOnce = async (row: Record<string, unknown>) => {
        try {
          return await insertMessage(core.db.knex, row);
        } catch (err) {
          if (!isUniqueViolation(err)) throw err;
          return null;
        }
      };
      if (!decision.allowed) {
        const id = await insertOnce({
          ...base,
          status: 'suppressed',
          reason: decision.reason,
          transport: transport.name,
        });
        if (!id) return (await storedUnderKey(core.db.knex, msg.apiKeyId, msg.idempotency)) as SendResult;
        return {
          id,
          status: 'suppressed',
          reason: decision.reason,
          ...(decision.retryAfter ? { retryAfter: decision.retryAfter } : {}),
        };
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
          core.config.inboundEmailDomain,
        );
        Object.assign(headers, block.headers);
        links.unsubscribe_url = block.url;
      }
      let html = fillLinks(msg.html, links, true);
      let text = fillLinks(msg.text, links, false);
      if (topic.kind === 'marketing') {
        // CAN-SPAM: marketing carries the sender's postal address.
        const brand = await currentBrand(core);
        html = withPostalAddress(html, brand, links.unsubscribe_url, true);
        text = withPostalAddress(text, brand, links.unsubscribe_url, false);
      }
      const storedId = await insertOnce({
        ...base,
        html,
        text,
        headers: JSON.stringify(headers),
        status: 'pending',
        transport: transport.name,
      });
      if (!storedId) return (await storedUnderKey(core.db.knex, msg.apiKeyId, msg.idempotency)) as SendResult;
      const row = { id: storedId };

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
        await updateMessage(core.db.knex, row.id, {
          status: 'failed',
          provider_error: delivery.error,
          attempts: delivery.attempts,
          updated_at: new Date(),
        });
        throw new DomainError(
          'provider_failed',
          `The mail provider did not accept the message after ${delivery.attempts} tries (${delivery.error}). It is kept as failed: ${row.id}.`,
        );
      }
      await updateMessage(core.db.knex, row.id, {
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
    headers: jsonColumn<Record<string, string>>(m.headers),
    html: m.html,
    text: m.text,
    providerMessageId: m.provider_message_id,
    providerError: m.provider_error,
    attempts: m.attempts,
    createdAt: m.created_at.toISOString(),
    sentAt: m.sent_at ? m.sent_at.toISOString() : null,
  };
}

export function messageById(from: Reader, id: string) {
  return messageRow(sql(from), id);
}

/**
 * A message left `pending` by a process that stopped between handing it to the provider and
 * recording the answer is settled by the provider's own events (its `processed` event carries
 * our message id); one that no event confirms within `afterMs` is marked failed, with a reason
 * that says it was not sent again. Nothing stays pending for ever.
 */
export async function settleStalePending(knex: Knex, now: Date, afterMs = 15 * 60_000) {
  return failPendingBefore(
    knex,
    new Date(now.getTime() - afterMs),
    'The sending process stopped before the provider confirmed this message, and no provider event confirmed it since. It was not sent again: send it anew if it must go out.',
    now,
  );
}

export function recentMessages(from: Reader, limit: number) {
  return newestMessages(sql(from), limit);
}

/** The console's outbox: 50 a page, newest first, optionally to addresses starting with `to`. */
export async function outboxMessages(from: Reader, opts: { before?: { at: Date; id: string }; to?: string }) {
  const PAGE = 50;
  const rows = await outboxPage(sql(from), { ...opts, limit: PAGE + 1 });
  const more = rows.length > PAGE;
  const page = rows.slice(0, PAGE);
  const last = page[page.length - 1];
  return { rows: page, next: more && last ? { at: new Date(last.created_at), id: last.id } : null };
}

/** Erasure, in the caller's transaction: stored messages lose their address and content. */
export async function eraseMessagesIn(trx: Knex.Transaction, contactId: string, emailHash: string) {
  await eraseMessages(trx, contactId, emailHash);
}

const BATCH_CONCURRENCY = 8;

function answerFor(result: SendResult) {
  if (result.status === 'suppressed')
    return {
      status: 422,
      body: {
        status: 'suppressed',
        reason: result.reason,
        ...(result.retryAfter ? { retryAfter: result.retryAfter } : {}),
      },
    };
  return { status: 202, body: { id: result.id, status: result.status } };
}

/** POST /api/v1/messages: one message, decided and sent once per Idempotency-Key. */
export function sendMessage(
  core: Core,
  mailer: Mailer,
  apiKeyId: string,
  key: string | undefined,
  msg: OutgoingMessage,
) {
  return withIdempotency(
    core,
    apiKeyId,
    key,
    requestHash('message', msg),
    async () =>
      answerFor(await mailer.send({ ...msg, apiKeyId, ...(key ? { idempotency: { key, index: 0 } } : {}) })),
    core.config.idempotencyLeaseMs,
  );
}

/**
 * POST /api/v1/messages/batch: each message is decided and sent on its own, so one refusal or
 * provider failure answers for that recipient only; a few at a time keep the provider and the
 * pool unflooded.
 */
export function sendMessageBatch(
  core: Core,
  mailer: Mailer,
  apiKeyId: string,
  key: string | undefined,
  list: unknown[],
) {
  return withIdempotency(
    core,
    apiKeyId,
    key,
    requestHash('batch', list),
    async () => {
      const results: unknown[] = new Array(list.length);
      let next = 0;
      // Each message is decided and sent on its own: one refusal or provider failure answers
      // for that recipient only. A few at a time keeps the provider and the pool unflooded.
      const worker = async () => {
        while (next < list.length) {
          const i = next++;
          const read = readMessage(list[i], `messages[${i}].`);
          const to = (list[i] as { to?: unknown } | null)?.to ?? null;
          if (!read.ok) {
            results[i] = {
              to,
              status: 'invalid',
              error: { code: 'validation_failed', details: read.details },
            };
            continue;
          }
          try {
            const sent = await mailer.send({
              ...read.msg,
              apiKeyId,
              ...(key ? { idempotency: { key, index: i } } : {}),
            });
            results[i] =
              sent.status === 'suppressed'
                ? {
                    to,
                    id: sent.id,
                    status: 'suppressed',
                    reason: sent.reason,
                    ...(sent.retryAfter ? { retryAfter: sent.retryAfter } : {}),
                  }
                : { to, id: sent.id, status: sent.status };
          } catch (err) {
            if (!(err instanceof DomainError) || err.code === 'unavailable' || err.code === 'internal')
              throw err;
            results[i] = {
              to,
              status: err.code === 'provider_failed' ? 'failed' : 'invalid',
              error: { code: err.code, message: err.message, details: err.details },
            };
          }
        }
      };
      await Promise.all(Array.from({ length: BATCH_CONCURRENCY }, worker));
      return { status: 200, body: { results } };
    },
    core.config.idempotencyLeaseMs,
  );
}
