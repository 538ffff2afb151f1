// GET /api/v1/events (scope `events`): the ledger for integrators, streamed in ledger order.
import { Router } from 'express';
import type { AppContext } from '../app.ts';
import { contactByEmail } from '../contacts/queries.ts';
import { cleanEmail } from '../contacts/rules.ts';
import { AppError } from '../http/errors.ts';
import { INSTANT_MESSAGE, parseInstant } from '../http/validate.ts';
import { type EventFilter, writeEventsCsv, writeEventsNdjson } from './export.ts';

function dateParam(name: string, v: unknown, details: { field: string; message: string }[]) {
  if (v === undefined) return undefined;
  const d = parseInstant(v);
  if (!d) details.push({ field: name, message: INSTANT_MESSAGE });
  return d ?? undefined;
}

export function ledgerRoutes(ctx: AppContext) {
  const r = Router();
  r.get('/v1/events', ctx.apiAuth.require('events'), async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const details: { field: string; message: string }[] = [];
    const filter: EventFilter = {
      since: dateParam('since', q.since, details),
      until: dateParam('until', q.until, details),
    };
    if (q.after !== undefined) {
      if (typeof q.after !== 'string' || !/^\d{1,15}$/.test(q.after))
        details.push({ field: 'after', message: 'an event id' });
      else filter.after = Number(q.after);
    }
    const format = q.format ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'csv') details.push({ field: 'format', message: 'ndjson or csv' });
    if (q.contact !== undefined) {
      const email = cleanEmail(q.contact);
      if (!email.ok) details.push({ field: 'contact', message: email.reason });
      else {
        const c = await contactByEmail(ctx.db.knex, email.email);
        if (!c) throw new AppError('not_found', 'No contact with this email address.');
        filter.contactId = c.id;
      }
    }
    if (details.length) throw new AppError('validation_failed', 'The event query is not valid.', details);
    res.status(200);
    if (format === 'csv') {
      res.type('text/csv; charset=utf-8');
      await writeEventsCsv(ctx.db.knex, filter, res);
    } else {
      res.type('application/x-ndjson');
      await writeEventsNdjson(ctx.db.knex, filter, res);
    }
  });
  return r;
}
