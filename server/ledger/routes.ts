// GET /api/v1/events (scope `events`): the ledger for integrators, streamed in feed order (each
// event's position is handed out at commit, so `after=<cursor>` never skips one).

import type { AppContext } from '../app.ts';
import { cleanEmail, contactByEmail } from '../contacts/service.ts';
import { DomainError } from '../errors.ts';
import { errorResponse, ref } from '../http/openapi.ts';
import type { ApiRoute } from '../http/route-table.ts';
import { INSTANT_MESSAGE, parseInstant, parseWhole } from '../http/validate.ts';
import {
  decodeCursor,
  type EventFilter,
  hasEventsAfter,
  writeEventsCsv,
  writeEventsNdjson,
} from './export.ts';

const MAX_WAIT_SECONDS = 30;
const POLL_MS = 200;

function dateParam(name: string, v: unknown, details: { field: string; message: string }[]) {
  if (v === undefined) return undefined;
  const d = parseInstant(v);
  if (!d) details.push({ field: name, message: INSTANT_MESSAGE });
  return d ?? undefined;
}

export function ledgerApi(ctx: AppContext): ApiRoute[] {
  return [
    {
      method: 'get',
      path: '/v1/events',
      operationId: 'listEvents',
      tag: 'Events',
      scope: 'events',
      errors: ['not_found'],
      doc: {
        summary:
          'The ledger as a feed, NDJSON or CSV (scope: events). Every event carries a cursor; pass the cursor of the last event received as after= to get every committed event after it exactly once (docs/feed.md).',
        parameters: [
          { name: 'since', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } },
          { name: 'until', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } },
          {
            name: 'after',
            in: 'query',
            required: false,
            description:
              'The `cursor` of the last event received (an event id is refused: ids are handed out before commit)',
            schema: { type: 'string', pattern: '^f1\\.\\d+$' },
          },
          {
            name: 'wait',
            in: 'query',
            required: false,
            description: 'Seconds (0-30) to hold an empty answer open until an event arrives',
            schema: { type: 'integer', minimum: 0, maximum: 30 },
          },
          {
            name: 'contact',
            in: 'query',
            required: false,
            description: 'A contact email',
            schema: { type: 'string' },
          },
          {
            name: 'format',
            in: 'query',
            required: false,
            schema: { enum: ['ndjson', 'csv'], default: 'ndjson' },
          },
        ],
        responses: {
          '200': {
            description:
              'NDJSON: one Event per line, in commit order. CSV: the same fields as columns, `data` as JSON text.',
            content: {
              'application/x-ndjson': { schema: ref('Event') },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          '404': errorResponse('No such contact', 'not_found', 'No contact with this email address.'),
        },
      },
      handler: async (req, res) => {
        const q = req.query as Record<string, unknown>;
        const details: { field: string; message: string }[] = [];
        const filter: EventFilter = {
          since: dateParam('since', q.since, details),
          until: dateParam('until', q.until, details),
        };
        if (q.after !== undefined) {
          const seq = typeof q.after === 'string' ? decodeCursor(q.after) : null;
          if (typeof q.after === 'string' && /^\d+$/.test(q.after)) {
            details.push({
              field: 'after',
              message:
                'takes the `cursor` of the last event you received, not an event id: ids are handed out before commit, so "id greater than the last seen" misses events that commit late',
            });
          } else if (seq === null) details.push({ field: 'after', message: 'the `cursor` of an event' });
          else filter.afterSeq = seq;
        }
        let waitSeconds = 0;
        if (q.wait !== undefined) {
          const w = parseWhole(q.wait, 0, MAX_WAIT_SECONDS);
          if (w === null)
            details.push({
              field: 'wait',
              message: `seconds to hold an empty answer open, 0 to ${MAX_WAIT_SECONDS}`,
            });
          else waitSeconds = w;
        }
        const format = q.format ?? 'ndjson';
        if (format !== 'ndjson' && format !== 'csv')
          details.push({ field: 'format', message: 'ndjson or csv' });
        if (q.contact !== undefined) {
          const email = cleanEmail(q.contact);
          if (!email.ok) details.push({ field: 'contact', message: email.reason });
          else {
            const c = await contactByEmail(ctx, email.email);
            if (!c) throw new DomainError('not_found', 'No contact with this email address.');
            filter.contactId = c.id;
          }
        }
        if (details.length)
          throw new DomainError('validation_failed', 'The event query is not valid.', details);
        if (waitSeconds > 0) {
          // Long poll: hold the (empty) answer open until an event arrives or the wait ends.
          const deadline = Date.now() + waitSeconds * 1000;
          let gone = false;
          req.on('close', () => {
            gone = true;
          });
          while (!gone && Date.now() < deadline && !(await hasEventsAfter(ctx, filter))) {
            await new Promise((r) => setTimeout(r, POLL_MS));
          }
          if (gone) return;
        }
        res.status(200);
        if (format === 'csv') {
          res.type('text/csv; charset=utf-8');
          await writeEventsCsv(ctx, filter, res);
        } else {
          res.type('application/x-ndjson');
          await writeEventsNdjson(ctx, filter, res);
        }
      },
    },
  ];
}
