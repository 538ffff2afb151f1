// Mail gateway API (scope `send`): POST /api/v1/messages, POST /api/v1/messages/batch,
// GET /api/v1/messages/{id}. Thin: shape checks here, decisions and sending in the service.
import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import { DomainError } from '../errors.ts';
import { requireObjectBody } from '../http/validate.ts';
import { isUuid } from '../ids.ts';
import { checkKey, requestHash, withIdempotency } from './idempotency.ts';
import { readMessage } from './rules.ts';
import { messageById, messageJson, type SendResult } from './service.ts';

export const MAX_MESSAGE_BATCH = 1000;
const BATCH_CONCURRENCY = 8;

function answerFor(result: SendResult) {
  if (result.status === 'suppressed')
    return { status: 422, body: { status: 'suppressed', reason: result.reason } };
  return { status: 202, body: { id: result.id, status: result.status } };
}

function reply(res: Response, answer: { status: number; body: unknown; replayed: boolean }) {
  if (answer.replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(answer.status).json(answer.body);
}

export function mailRoutes(ctx: AppContext) {
  const r = Router();
  const sendScope = ctx.apiAuth.require('send');
  const keyOf = (req: Request) => {
    const key = req.get('Idempotency-Key');
    checkKey(key);
    return key;
  };

  r.post('/v1/messages', sendScope, requireObjectBody, async (req, res) => {
    const key = keyOf(req);
    const read = readMessage(req.body);
    if (!read.ok) throw new DomainError('validation_failed', 'The message is not valid.', read.details);
    const apiKeyId = req.caller?.apiKeyId as string;
    const answer = await withIdempotency(
      ctx.db.knex,
      apiKeyId,
      key,
      requestHash('message', read.msg),
      async () =>
        answerFor(
          await ctx.mailer.send({
            ...read.msg,
            apiKeyId,
            ...(key ? { idempotency: { key, index: 0 } } : {}),
          }),
        ),
      ctx.config.idempotencyLeaseMs,
    );
    reply(res, answer);
  });

  r.post('/v1/messages/batch', sendScope, requireObjectBody, async (req, res) => {
    const key = keyOf(req);
    const list = (req.body as { messages?: unknown }).messages;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_MESSAGE_BATCH) {
      throw new DomainError(
        'validation_failed',
        `Send {"messages": [...]} with 1 to ${MAX_MESSAGE_BATCH} messages.`,
        [{ field: 'messages', message: `an array of 1 to ${MAX_MESSAGE_BATCH} messages` }],
      );
    }
    const apiKeyId = req.caller?.apiKeyId as string;
    const answer = await withIdempotency(
      ctx.db.knex,
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
              const sent = await ctx.mailer.send({
                ...read.msg,
                apiKeyId,
                ...(key ? { idempotency: { key, index: i } } : {}),
              });
              results[i] =
                sent.status === 'suppressed'
                  ? { to, id: sent.id, status: 'suppressed', reason: sent.reason }
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
      ctx.config.idempotencyLeaseMs,
    );
    reply(res, answer);
  });

  r.get('/v1/messages/:id', sendScope, async (req, res) => {
    const id = String(req.params.id);
    const row = isUuid(id) ? await messageById(ctx.db.knex, id) : undefined;
    if (!row) throw new DomainError('not_found', 'No message with this id.');
    res.json(messageJson(row));
  });

  return r;
}
