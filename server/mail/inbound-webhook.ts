// POST /webhooks/inbound-email/{INBOUND_EMAIL_TOKEN}: SendGrid Inbound Parse. Marketing mail names
// `mailto:u+{code}@{INBOUND_EMAIL_DOMAIN}` in List-Unsubscribe; Apple Mail and other clients
// unsubscribe by sending a message there. Each such address in the envelope unsubscribes its
// topic, as a one-click does; while the database is away the opt-out goes to the durable spool.
// The answer is 200 for anything this URL's secret lets in (SendGrid would retry a 5xx for days
// over a message nobody can act on), 503 only when the database is away and an opt-out could be
// neither applied nor spooled (SendGrid then retries); a wrong secret is a 403.
import { createHash, timingSafeEqual } from 'node:crypto';
import busboy from 'busboy';
import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import { withDeadline } from '../deadline.ts';
import { DomainError, isDatabaseUnavailable } from '../errors.ts';
import { originOf } from '../http/origin.ts';
import { knownTopicSlugs, listTopics, unsubscribeByMail } from '../preferences/service.ts';
import { verifyMailtoCode } from '../tokens/tokens.ts';

const MAX_FIELD_BYTES = 1024 * 1024;

const digest = (v: string) => createHash('sha256').update(v).digest();

/** The fields of a multipart Inbound Parse post; attachments are read past and dropped. */
function readFields(req: Request): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let bb: ReturnType<typeof busboy>;
    try {
      bb = busboy({ headers: req.headers, limits: { fieldSize: MAX_FIELD_BYTES, fields: 50, files: 20 } });
    } catch {
      return reject(new DomainError('validation_failed', 'Inbound Parse posts multipart/form-data.'));
    }
    const fields: Record<string, string> = {};
    bb.on('field', (name, value) => {
      if (['to', 'envelope', 'headers', 'email'].includes(name)) fields[name] = value;
    });
    bb.on('file', (_name, stream) => stream.resume());
    bb.on('close', () => resolve(fields));
    bb.on('error', () =>
      reject(new DomainError('validation_failed', 'The multipart body could not be read.')),
    );
    req.pipe(bb);
  });
}

/** Every `u+{code}@{domain}` address the message was sent to (envelope first, then headers). */
export function unsubscribeCodes(fields: Record<string, string>, domain: string): string[] {
  const text = [fields.envelope, fields.to, fields.headers, fields.email?.slice(0, 64 * 1024)]
    .filter(Boolean)
    .join('\n')
    .toLowerCase();
  const escaped = domain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`u\\+([a-z2-7]{48})@${escaped}\\b`, 'g');
  return [...new Set([...text.matchAll(re)].map((m) => m[1]))].slice(0, 20);
}

export function inboundEmailRoutes(ctx: AppContext) {
  const r = Router();
  r.post('/webhooks/inbound-email/:token', async (req: Request, res: Response) => {
    const domain = ctx.config.inboundEmailDomain;
    const secret = ctx.config.inboundEmailToken;
    if (!domain || !secret) throw new DomainError('not_found', 'Inbound email is not configured.');
    if (!timingSafeEqual(digest(String(req.params.token)), digest(secret)))
      throw new DomainError('forbidden', 'This inbound email URL is not valid.');
    const fields = await readFields(req);
    const codes = unsubscribeCodes(fields, domain);
    const origin = { ...originOf(req, 'recipient'), userAgent: 'mailto' };
    let applied = 0;
    let spooled = 0;
    for (const code of codes) {
      let claims: { contactId: string; topic: string } | null = null;
      try {
        const topics = await withDeadline(listTopics(ctx), ctx.config.webhookBudgetMs, 'inbound email');
        claims = verifyMailtoCode(
          ctx.config.tokenKeys,
          code,
          topics.map((t) => t.slug),
        );
        if (!claims) continue;
        if (
          await withDeadline(
            unsubscribeByMail(ctx, origin, claims.contactId, claims.topic),
            ctx.config.webhookBudgetMs,
            'inbound email',
          )
        )
          applied++;
      } catch (err) {
        if (!isDatabaseUnavailable(err)) throw err;
        // The topic list needs the database; without it the code is checked against the slugs
        // this process last read. A code that cannot be read now is not dropped: the answer is a
        // 503, and SendGrid posts the message again (applying a code twice changes nothing).
        claims ??= verifyMailtoCode(ctx.config.tokenKeys, code, knownTopicSlugs());
        if (!claims) throw err;
        await ctx.spool.addOneClick(claims.contactId, claims.topic, origin, ctx.now());
        ctx.metrics.optOutsDeferred.inc({ path: 'mailto' });
        spooled++;
      }
    }
    res.status(200).json({ received: codes.length, applied, spooled });
  });
  return r;
}
