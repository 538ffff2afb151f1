// SendGrid Event Webhook events applied to our state. Each event runs in its own transaction
// with its sg_event_id claimed first, in the same transaction as its effect: a replay after
// success changes nothing, and a redelivery after a failure (the transaction rolled back, the
// claim with it) applies the event.

import type { Knex } from 'knex';
import { contactByEmail, suppressIn } from '../contacts/service.ts';
import type { Core } from '../core.ts';
import { countDelivered } from '../dashboard/service.ts';
import { isUuid } from '../ids.ts';
import type { Origin } from '../ledger/ledger.ts';
import { applyPreferenceChanges, listTopics, type Topic } from '../preferences/service.ts';
import { claimProviderEvent, messageRef, updateMessage } from './queries.ts';

export type EventOutcome = 'applied' | 'duplicate' | 'malformed';

export interface SendGridEvent {
  event?: unknown;
  email?: unknown;
  sg_event_id?: unknown;
  sg_message_id?: unknown;
  message_id?: unknown;
  topic?: unknown;
  category?: unknown;
  asm_group_id?: unknown;
  type?: unknown;
  reason?: unknown;
  sg_machine_open?: unknown;
}

// Message statuses only move forward: events arrive out of order (an open before its delivered).
const RANK: Record<string, number> = {
  pending: 0,
  failed: 0,
  sent: 1,
  deferred: 2,
  delivered: 3,
  opened: 4,
  clicked: 5,
  unsubscribed: 6,
  dropped: 7,
  bounced: 7,
  spam_reported: 7,
};

const STATUS_FOR: Record<string, string> = {
  // SendGrid accepted it: settles a message its sending process left pending
  processed: 'sent',
  delivered: 'delivered',
  open: 'opened',
  click: 'clicked',
  dropped: 'dropped',
  deferred: 'deferred',
  spamreport: 'spam_reported',
  unsubscribe: 'unsubscribed',
  group_unsubscribe: 'unsubscribed',
};

interface MessageRef {
  id: string;
  topic: string;
  status: string;
  account_id: string | null;
}

/** A message in one of these has reached the inbox (the complaint rate's denominator). */
const DELIVERED = new Set(['delivered', 'opened', 'clicked', 'spam_reported', 'unsubscribed']);

async function findMessage(trx: Knex.Transaction, ev: SendGridEvent): Promise<MessageRef | undefined> {
  if (isUuid(ev.message_id)) {
    const m = await messageRef(trx, { id: ev.message_id });
    if (m) return m;
  }
  if (typeof ev.sg_message_id === 'string' && ev.sg_message_id) {
    const providerId = ev.sg_message_id.split('.')[0];
    return messageRef(trx, { provider_message_id: providerId });
  }
  return undefined;
}

/**
 * The topic a group event names: the ASM group first (that is what the person left), then the
 * custom arg, the stored message and the category. null: unknown (the caller then stops all
 * marketing email, the safe reading of an opt-out).
 */
function groupTopic(ev: SendGridEvent, message: MessageRef | undefined, topics: Topic[]): Topic | null {
  const bySlug = (s: unknown) => (typeof s === 'string' ? topics.find((t) => t.slug === s) : undefined);
  const categories = Array.isArray(ev.category) ? ev.category : [ev.category];
  return (
    (typeof ev.asm_group_id === 'number'
      ? topics.find((t) => t.sendgrid_group_id === ev.asm_group_id)
      : undefined) ??
    bySlug(ev.topic) ??
    bySlug(message?.topic) ??
    categories.map(bySlug).find((t) => t !== undefined) ??
    null
  );
}

async function setStatus(
  trx: Knex.Transaction,
  message: MessageRef | undefined,
  status: string,
  ev?: SendGridEvent,
) {
  if (!message || (RANK[status] ?? 0) <= (RANK[message.status] ?? 0)) return;
  // Counted once, on its first step into the inbox (statuses only move forward, and each
  // provider event is applied once), for the dashboard's complaint rate.
  if (DELIVERED.has(status) && !DELIVERED.has(message.status)) {
    const topic = (await listTopics(trx)).find((t) => t.slug === message.topic);
    if (topic?.kind === 'marketing') await countDelivered(trx, new Date(), message.account_id, topic.slug);
  }
  const providerId =
    message.status === 'pending' && typeof ev?.sg_message_id === 'string'
      ? ev.sg_message_id.split('.')[0]
      : undefined;
  await updateMessage(trx, message.id, {
    status,
    updated_at: new Date(),
    ...(providerId ? { provider_message_id: providerId } : {}),
  });
}

async function suppress(
  core: Core,
  trx: Knex.Transaction,
  origin: Origin,
  email: string,
  contactId: string | null,
  reason: 'bounce' | 'spam_complaint',
  eventId: string,
) {
  await suppressIn(core, trx, origin, { email, contactId, reason, data: { sgEventId: eventId } });
}

export async function applySendGridEvent(
  core: Core,
  origin: Origin,
  ev: SendGridEvent,
): Promise<EventOutcome> {
  if (typeof ev.sg_event_id !== 'string' || !ev.sg_event_id || typeof ev.event !== 'string')
    return 'malformed';
  const eventId = ev.sg_event_id.slice(0, 200);
  const kind = ev.event;
  return core.db.knex.transaction(async (trx) => {
    if (!(await claimProviderEvent(trx, eventId))) return 'duplicate';

    const message = await findMessage(trx, ev);
    const email = typeof ev.email === 'string' ? ev.email.trim() : '';
    const contact = email ? await contactByEmail(trx, email) : undefined;
    const contactId: string | null = contact?.id ?? null;

    switch (kind) {
      case 'unsubscribe':
      case 'group_unsubscribe': {
        if (contactId) {
          // `unsubscribe` is SendGrid's global "opt out of all emails": SendGrid drops every
          // later message to the address, so the center must say all marketing is off too.
          const topic = kind === 'group_unsubscribe' ? groupTopic(ev, message, await listTopics(trx)) : null;
          const slug = topic?.kind === 'marketing' ? topic.slug : null;
          await applyPreferenceChanges(
            core,
            trx,
            origin,
            contactId,
            [{ channel: 'email', topic: slug, status: 'unsubscribed' }],
            { via: kind, sgEventId: eventId },
          );
        }
        break;
      }
      case 'group_resubscribe': {
        const topic = contactId ? groupTopic(ev, message, await listTopics(trx)) : null;
        if (contactId && topic?.kind === 'marketing') {
          await applyPreferenceChanges(
            core,
            trx,
            origin,
            contactId,
            [{ channel: 'email', topic: topic.slug, status: 'subscribed' }],
            { via: kind, sgEventId: eventId },
          );
        }
        break;
      }
      case 'spamreport':
        if (email) await suppress(core, trx, origin, email, contactId, 'spam_complaint', eventId);
        break;
      case 'bounce':
        // type "bounce" is permanent; "blocked" is temporary and only noted on the message.
        if (ev.type === 'bounce') {
          if (email) await suppress(core, trx, origin, email, contactId, 'bounce', eventId);
          await setStatus(trx, message, 'bounced');
        } else if (message) {
          await updateMessage(trx, message.id, {
            provider_error: String(ev.reason ?? 'blocked').slice(0, 1000),
            updated_at: new Date(),
          });
        }
        return 'applied';
      case 'open':
        // Machine opens (Apple Mail privacy, image proxies) are not people opening mail.
        if (ev.sg_machine_open === true) return 'applied';
        break;
    }
    const status = STATUS_FOR[kind];
    if (status) await setStatus(trx, message, status, ev);
    return 'applied';
  });
}
