// POST /api/v1/send-permission, /batch and /stream (scope `check`).

import { StringDecoder } from 'node:string_decoder';
import type { Request, Response } from 'express';
import type { AppContext } from '../app.ts';
import { CHANNELS, type Channel, isChannel } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { errorResponse, json, ref } from '../http/openapi.ts';
import { type ApiRoute, sendJson } from '../http/route-table.ts';
import { isUuid } from '../ids.ts';
import { drained } from '../streams.ts';
import { unsubscribeBlock } from '../tokens/tokens.ts';
import { REASONS, type Reason } from './decide.ts';
import {
  type CheckResult,
  checkMany,
  checkOne,
  normaliseRecipient,
  type Recipient,
  releaseReservation,
  requireTopic,
  reserveOne,
} from './service.ts';

export const MAX_BATCH = 10_000;
// Recipients a stream decides per query. 5,000 rather than 10,000: the batches in flight are
// most of what a stream adds to the server's memory, and halving them took the peak from
// 194-196 to 184-188 MB (RSS 162-170 MB before the stream) at the same rate (394-474k
// recipients/s either way, three passes of a million, two runs each; docs/scaling.md).
const STREAM_BATCH = 5_000;
// Batches being decided at once. Three since the stream reads sparse rows: the Node thread then
// waits on the database a third of the time, and a third batch overlaps it (measured 241-296k
// recipients/s against 218-255k with two, with batches of 10,000; docs/scaling.md).
const STREAM_IN_FLIGHT = 3;
/** A longer line is answered with an error and never held whole: memory stays flat. */
export const MAX_STREAM_LINE = 1024;
/** Stands in for a line that was too long (it cannot occur in a real line: it holds a NUL). */
const OVERLONG = '\u0000overlong';

/** `reserve` (sms/voice only) and `reservationKey` (1-255 visible ASCII characters). */
function reserveProblems(channel: unknown, reserve: unknown, key: unknown) {
  const details: { field: string; message: string }[] = [];
  if (reserve !== undefined && typeof reserve !== 'boolean')
    details.push({ field: 'reserve', message: 'true or false' });
  if (reserve === true && channel === 'email') {
    details.push({ field: 'reserve', message: 'send records count texts and calls: sms or voice only' });
  }
  if (key !== undefined && (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key))) {
    details.push({ field: 'reservationKey', message: '1 to 255 visible ASCII characters' });
  }
  if (key !== undefined && reserve !== true)
    details.push({ field: 'reservationKey', message: 'only with "reserve": true' });
  return details;
}

function channelAndTopic(channel: unknown, topic: unknown) {
  const details = [];
  if (!isChannel(channel)) details.push({ field: 'channel', message: `one of ${CHANNELS.join(', ')}` });
  if (typeof topic !== 'string' || !topic)
    details.push({ field: 'topic', message: 'a topic slug, e.g. "newsletter"' });
  return details;
}

function links(ctx: AppContext, r: CheckResult, channel: Channel, topic: string) {
  if (channel !== 'email' || r.reason !== 'subscribed' || !r.contactId) return undefined;
  return unsubscribeBlock(
    ctx.config.baseUrl,
    ctx.config.tokenKeys,
    r.contactId,
    topic,
    ctx.config.inboundEmailDomain,
  );
}

export function permissionApi(ctx: AppContext): ApiRoute[] {
  const core = ctx;
  return [
    {
      method: 'post',
      path: '/v1/send-permission',
      operationId: 'checkPermission',
      tag: 'Checks',
      scope: 'check',
      body: 'json',
      doc: {
        summary: 'May we send this topic on this channel to this recipient? (scope: check)',
        requestBody: {
          required: true,
          content: json(ref('CheckRequest'), {
            channel: 'email',
            recipient: 'ann@example.com',
            topic: 'newsletter',
          }),
        },
        responses: {
          '200': {
            description:
              'The decision. Allowed email marketing carries the unsubscribe link and List-Unsubscribe headers to put on the message.',
            content: json(ref('CheckResponse'), {
              allowed: true,
              reason: 'subscribed',
              channel: 'email',
              recipient: 'ann@example.com',
              topic: 'newsletter',
              unsubscribe: {
                url: 'https://prefs.example.com/u/AQE.k1.sig',
                oneClickUrl: 'https://prefs.example.com/u/AQE.k1.sig',
                headers: {
                  'List-Unsubscribe': '<https://prefs.example.com/u/AQE.k1.sig>',
                  'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
                },
              },
            }),
          },
        },
      },
      // Validation is written by hand here, not as express-validator chains: this is the hot path,
      // and running chains per request cost a measured share of its throughput (npm run bench).
      handler: async (req, res) => {
        const { channel, topic, recipient, reserve, reservationKey } = req.body;
        const details = channelAndTopic(channel, topic);
        if (typeof recipient !== 'string' || !recipient) {
          details.push({
            field: 'recipient',
            message: 'an email address (email) or phone number (sms, voice)',
          });
        }
        details.push(...reserveProblems(channel, reserve, reservationKey));
        if (details.length)
          throw new DomainError('validation_failed', 'The check request is not valid.', details);
        const rec = normaliseRecipient(channel, recipient, ctx.config.defaultPhoneRegion);
        if (!rec.ok) {
          throw new DomainError('validation_failed', `The recipient is not valid: ${rec.reason}.`, [
            { field: 'recipient', message: rec.reason },
          ]);
        }
        const result: CheckResult & { reservationId?: string } = reserve
          ? await reserveOne(core, ctx.now(), channel, await requireTopic(core, topic), rec, {
              apiKeyId: req.caller?.apiKeyId ?? null,
              reservationKey,
            })
          : await checkOne(core, ctx.now(), channel, topic, rec);
        ctx.metrics.decisions.inc({ channel, reason: result.reason });
        const unsubscribe = links(ctx, result, channel, topic);
        sendJson(res, {
          allowed: result.allowed,
          reason: result.reason,
          channel,
          recipient: result.recipient,
          topic,
          ...(result.retryAfter ? { retryAfter: result.retryAfter } : {}),
          ...(result.reservationId ? { reservationId: result.reservationId } : {}),
          ...(unsubscribe ? { unsubscribe } : {}),
        });
      },
    },
    {
      // A reservation whose send failed: released, it no longer counts toward a limit.
      method: 'delete',
      path: '/v1/send-permission/reservations/{id}',
      operationId: 'releaseReservation',
      tag: 'Checks',
      scope: 'check',
      errors: ['not_found'],
      doc: {
        summary: 'Release a reservation whose send failed: it no longer counts toward a limit (scope: check)',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        responses: {
          '204': { description: 'Released' },
          '404': errorResponse(
            'No such reservation for this key',
            'not_found',
            'No reservation with this id for this API key.',
          ),
        },
      },
      handler: async (req, res) => {
        const id = String(req.params.id);
        if (!isUuid(id) || !(await releaseReservation(core, req.caller?.apiKeyId ?? null, id))) {
          throw new DomainError(
            'not_found',
            'No reservation with this id for this API key (or it was released already).',
          );
        }
        res.status(204).end();
      },
    },
    {
      method: 'post',
      path: '/v1/send-permission/batch',
      operationId: 'checkPermissionBatch',
      tag: 'Checks',
      scope: 'check',
      body: 'json',
      doc: {
        summary: 'Up to 10,000 recipients of one channel and topic, answered in request order (scope: check)',
        requestBody: {
          required: true,
          content: json(
            {
              type: 'object',
              required: ['channel', 'topic', 'recipients'],
              properties: {
                channel: ref('Channel'),
                topic: { type: 'string' },
                recipients: { type: 'array', maxItems: 10000, items: { type: 'string' } },
                reserve: {
                  type: 'boolean',
                  description: 'sms/voice: reserve a send record for each allowed recipient',
                },
              },
            },
            { channel: 'email', topic: 'offers', recipients: ['ann@example.com', 'bob@example.com'] },
          ),
        },
        responses: {
          '200': {
            description: 'One result per recipient, in order, duplicates included',
            content: json(ref('BatchResponse'), {
              results: [
                { recipient: 'ann@example.com', allowed: true, reason: 'subscribed' },
                { recipient: 'bob@example.com', allowed: false, reason: 'unsubscribed_all' },
              ],
            }),
          },
        },
      },
      handler: async (req, res) => {
        const { channel, topic, recipients, reserve } = req.body;
        const details = channelAndTopic(channel, topic);
        details.push(...reserveProblems(channel, reserve, undefined));
        if (!Array.isArray(recipients))
          details.push({ field: 'recipients', message: 'an array of recipients' });
        else if (recipients.length > MAX_BATCH) {
          details.push({
            field: 'recipients',
            message: `at most ${MAX_BATCH} per batch (got ${recipients.length}); use /stream for more`,
          });
        }
        if (details.length)
          throw new DomainError('validation_failed', 'The batch request is not valid.', details);
        const normalised = (recipients as unknown[]).map((x) =>
          normaliseRecipient(channel, x, ctx.config.defaultPhoneRegion),
        );
        const bad = normalised
          .map((n, i) => (n.ok ? null : { field: `recipients[${i}]`, message: n.reason }))
          .filter((d) => d !== null);
        if (bad.length) {
          throw new DomainError(
            'validation_failed',
            `${bad.length} recipient(s) are not valid; nothing was checked.`,
            bad.slice(0, 100),
          );
        }
        const topicFacts = await requireTopic(core, topic);
        let results: (CheckResult & { reservationId?: string })[];
        if (reserve) {
          // Each recipient reserves in its own transaction, in request order.
          results = [];
          for (const rec of normalised) {
            results.push(
              await reserveOne(core, ctx.now(), channel, topicFacts, rec as Recipient & { ok: true }, {
                apiKeyId: req.caller?.apiKeyId ?? null,
              }),
            );
          }
        } else {
          results = (await checkMany(core, ctx.now(), channel, topicFacts, normalised, {
            withIds: false,
          })) as CheckResult[];
        }
        for (const x of results) ctx.metrics.decisions.inc({ channel, reason: x.reason });
        res.json({
          results: results.map((x) => ({
            recipient: x.recipient,
            allowed: x.allowed,
            reason: x.reason,
            ...(x.retryAfter ? { retryAfter: x.retryAfter } : {}),
            ...(x.reservationId ? { reservationId: x.reservationId } : {}),
          })),
        });
      },
    },
    {
      method: 'post',
      path: '/v1/send-permission/stream',
      operationId: 'checkPermissionStream',
      tag: 'Checks',
      scope: 'check',
      body: 'stream',
      doc: {
        summary: 'Any number of recipients, one per line, answered line by line as NDJSON (scope: check)',
        description:
          'Answers come in input order, whatever that order is. A list sorted by address (lower case, byte order) is answered about twice as fast as one in signup or random order: each address then finds its contact in the address index beside the one before (docs/scaling.md, session 21).',
        parameters: [
          { name: 'channel', in: 'query', required: true, schema: ref('Channel') },
          { name: 'topic', in: 'query', required: true, schema: { type: 'string' } },
          {
            name: 'links',
            in: 'query',
            required: false,
            schema: { type: 'string', enum: ['true', 'false'] },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'text/plain': { schema: { type: 'string' }, example: 'ann@example.com\nbob@example.com\n' },
            'application/x-ndjson': {
              schema: { type: 'string' },
              example: '{"recipient":"ann@example.com"}\n',
            },
          },
        },
        responses: {
          '200': {
            description:
              'One NDJSON line per input line, in order: {"recipient","allowed","reason"} or {"recipient","error"} for a malformed line.',
            content: {
              'application/x-ndjson': {
                schema: ref('CheckLine'),
                example: '{"recipient":"ann@example.com","allowed":true,"reason":"subscribed"}\n',
              },
            },
          },
        },
      },
      handler: (req, res) => streamCheck(ctx, req, res),
    },
  ];
}

/** `,"allowed":…,"reason":"…"}` for each decision, the end of every plain stream line. */
const tailsOf = (allowed: boolean) =>
  Object.fromEntries(REASONS.map((r) => [r, `,"allowed":${allowed},"reason":"${r}"}`])) as Record<
    Reason,
    string
  >;
const ALLOWED_TAIL = tailsOf(true);
const DENIED_TAIL = tailsOf(false);

function parseLine(line: string, channel: Channel, region: string): Recipient {
  if (line === OVERLONG) {
    return { ok: false, input: null, reason: `line longer than ${MAX_STREAM_LINE} characters` };
  }
  const text = line.trim();
  if (text === '') return { ok: false, input: null, reason: 'empty line' };
  if (text.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      return { ok: false, input: null, reason: 'not valid JSON' };
    }
    const rec = (obj as { recipient?: unknown })?.recipient;
    if (typeof rec !== 'string') return { ok: false, input: null, reason: 'expected {"recipient": "..."}' };
    return normaliseRecipient(channel, rec, region);
  }
  return normaliseRecipient(channel, text, region);
}

/**
 * One decision line per input line, in order, written as batches complete. Reading waits while
 * the client is slow to read (back-pressure), so memory holds at most a few batches whatever
 * the input size. Headers go out with the first answers, so an early database failure is still
 * a clean 503; a failure after that ends the stream with an error line.
 */
async function streamCheck(ctx: AppContext, req: Request, res: Response) {
  const { channel, topic } = req.query as Record<string, string | undefined>;
  const details = channelAndTopic(channel, topic);
  if (details.length)
    throw new DomainError('validation_failed', 'Give ?channel= and ?topic= in the URL.', details);
  const ch = channel as Channel;
  const withLinks = req.query.links === 'true';
  const topicFacts = await requireTopic(ctx, topic as string);
  const region = ctx.config.defaultPhoneRegion;

  const render = (results: Awaited<ReturnType<typeof checkMany>>) => {
    // The batch's lines joined once (one flat string for the socket); a line is the recipient
    // and, in the common case, a tail kept per decision.
    const lines: string[] = new Array(results.length + 1);
    let n = 0;
    // Counted per batch: a labelled counter increment per recipient costs more than deciding.
    const counts = new Map<string, number>();
    for (const x of results) {
      if ('error' in x) {
        lines[n++] = JSON.stringify({ recipient: x.recipient, error: x.error });
        continue;
      }
      counts.set(x.reason, (counts.get(x.reason) ?? 0) + 1);
      const unsubscribe = withLinks ? links(ctx, x, ch, topic as string) : undefined;
      lines[n++] =
        x.retryAfter || unsubscribe
          ? `{"recipient":${JSON.stringify(x.recipient)},"allowed":${x.allowed},"reason":"${x.reason}"${
              x.retryAfter ? `,"retryAfter":"${x.retryAfter}"` : ''
            }${unsubscribe ? `,"unsubscribe":${JSON.stringify(unsubscribe)}` : ''}}`
          : `{"recipient":${JSON.stringify(x.recipient)}${(x.allowed ? ALLOWED_TAIL : DENIED_TAIL)[x.reason]}`;
    }
    lines[n] = ''; // the last line's newline
    for (const [reason, k] of counts) ctx.metrics.decisions.inc({ channel: ch, reason }, k);
    return results.length ? lines.join('\n') : '';
  };

  const pending: Promise<string>[] = [];
  let started = false;
  let aborted = false;
  res.on('close', () => {
    aborted = !res.writableFinished;
  });

  const flush = async (keep: number) => {
    while (pending.length > keep && !aborted) {
      const text = await (pending.shift() as Promise<string>);
      if (!started) {
        res.status(200).type('application/x-ndjson');
        started = true;
      }
      if (text && !res.write(text)) await drained(res);
    }
  };
  const submit = (lines: string[]) => {
    const recipients = lines.map((l) => parseLine(l, ch, region));
    const p = checkMany(ctx, ctx.now(), ch, topicFacts, recipients, { withIds: withLinks }).then(render);
    p.catch(() => {}); // observed when flushed; avoids an unhandled rejection meanwhile
    pending.push(p);
  };

  // Bytes become text through a decoder, so a character split between two chunks stays whole.
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let overlong = false; // inside a line already answered as too long: skip to its end
  let batch: string[] = [];
  const push = (line: string) => {
    batch.push(line.length > MAX_STREAM_LINE ? OVERLONG : line.endsWith('\r') ? line.slice(0, -1) : line);
    if (batch.length >= STREAM_BATCH) {
      submit(batch);
      batch = [];
    }
  };
  try {
    for await (const chunk of req) {
      if (aborted) break;
      const parts = (carry + decoder.write(chunk as Buffer)).split('\n');
      carry = parts.pop() ?? '';
      let i = 0;
      if (overlong && parts.length) {
        overlong = false;
        push(OVERLONG); // parts[0] is the rest of the line that was too long
        i = 1;
      }
      for (; i < parts.length; i++) push(parts[i]);
      if (carry.length > MAX_STREAM_LINE) {
        carry = '';
        overlong = true;
      }
      // Answer what has arrived so a client sending slowly gets answers as it goes; a fast
      // sender fills whole batches first.
      if (batch.length && (batch.length >= STREAM_BATCH / 2 || req.readableLength === 0)) {
        submit(batch);
        batch = [];
      }
      await flush(STREAM_IN_FLIGHT - 1);
    }
    carry += decoder.end();
    if (overlong) batch.push(OVERLONG);
    else if (carry.trim() !== '') batch.push(carry.length > MAX_STREAM_LINE ? OVERLONG : carry);
    if (batch.length) submit(batch);
    await flush(0);
    if (!started) res.status(200).type('application/x-ndjson');
    res.end();
  } catch (err) {
    pending.length = 0;
    if (!started) throw err;
    ctx.logger.error({ err }, 'stream check failed mid-way');
    res.end(
      `${JSON.stringify({ error: { code: 'unavailable', message: 'The check stopped: decisions after this line were not made.' } })}\n`,
    );
  }
}
