// CSV import of contacts (migrating from another tool): upload → a job → a progress page.
// The file is streamed to a temporary file, then parsed as a stream (csv-parse), so 100,000
// rows never sit in memory. Each row is one transaction: contact, prior opt-outs and
// suppression land together or not at all; a bad row is reported with its line number and
// changes nothing. Every change is on the ledger with actor `import:<job id>`.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import busboy from 'busboy';
import { parse } from 'csv-parse';
import { type Request, type Response, Router } from 'express';
import type { Knex } from 'knex';
import type { AppContext } from '../app.ts';
import { parsePhone } from '../contacts/phone.ts';
import { accountByExternalId, insertSuppression } from '../contacts/queries.ts';
import { canonicalEmail, cleanEmail, cleanLocale, isTimeZone, MAX_NAME } from '../contacts/rules.ts';
import { type ContactPatch, upsertContactIn } from '../contacts/service.ts';
import type { Core } from '../core.ts';
import { AppError } from '../http/errors.ts';
import { isUuid } from '../ids.ts';
import { keyedHash } from '../keyed-hash.ts';
import type { Origin } from '../ledger/ledger.ts';
import { applyPreferenceChanges, type PreferenceChange } from '../preferences/service.ts';
import { listTopics } from '../preferences/topics.ts';
import { can, render } from './routes.ts';
import { listAccounts } from './service.ts';
import { csrfMatches, type StaffSession } from './sessions.ts';

const MAX_FILE_BYTES = 100 * 1024 * 1024;
const MAX_ERRORS_KEPT = 1000;
const PROGRESS_EVERY = 500;
/** Concurrent row transactions on PostgreSQL (PGlite has one connection: one lane). */
const IMPORT_LANES = 6;
export const IMPORT_COLUMNS = [
  'email',
  'name',
  'phone',
  'account',
  'locale',
  'time_zone',
  'unsubscribed',
  'suppressed',
];
const SUPPRESSION_REASONS = ['bounce', 'spam_complaint', 'manual'];

export interface ImportRow {
  email: string;
  patch: ContactPatch;
  unsubscribed: PreferenceChange[];
  suppressed: string | null;
}

/** Reads one CSV record into what the import writes, or the reasons it cannot. */
export function readImportRow(
  rec: Record<string, string>,
  ctx: {
    region: string;
    topics: { slug: string; kind: string; channels: string[] }[];
    defaultAccount: string | null;
  },
): { ok: true; row: ImportRow } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const val = (k: string) => (rec[k] ?? '').trim();
  const email = cleanEmail(val('email'));
  if (!email.ok) errors.push(`email: ${email.reason}`);
  const patch: ContactPatch = {};
  if (val('name')) {
    if (val('name').length > MAX_NAME) errors.push(`name: at most ${MAX_NAME} characters`);
    else patch.name = val('name');
  }
  if (val('phone')) {
    const p = parsePhone(val('phone'), ctx.region);
    if (!p.ok) errors.push(`phone: ${p.reason}`);
    else patch.phone = p.e164;
  }
  const account = val('account') || ctx.defaultAccount;
  if (account) patch.accountExternalId = account;
  if (val('locale')) {
    const l = cleanLocale(val('locale'));
    if (!l) errors.push(`locale: "${val('locale')}" is not a language tag such as en or es-MX`);
    else patch.locale = l;
  }
  if (val('time_zone')) {
    if (!isTimeZone(val('time_zone')))
      errors.push(`time_zone: "${val('time_zone')}" is not an IANA time zone`);
    else patch.timeZone = val('time_zone');
  }
  // unsubscribed: "*" (all marketing email) or topic slugs separated by ";", optionally
  // "channel:topic" (email when no channel is given).
  const unsubscribed: PreferenceChange[] = [];
  for (const part of val('unsubscribed')
    .split(/[;|]/)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [a, b] = part.includes(':') ? part.split(':', 2) : ['email', part];
    const channel = a.toLowerCase();
    if (!['email', 'sms', 'voice'].includes(channel)) {
      errors.push(`unsubscribed: unknown channel "${a}"`);
      continue;
    }
    if (b === '*' || b.toLowerCase() === 'all') {
      unsubscribed.push({
        channel: channel as PreferenceChange['channel'],
        topic: null,
        status: 'unsubscribed',
      });
      continue;
    }
    const topic = ctx.topics.find((t) => t.slug === b.toLowerCase());
    if (topic?.kind !== 'marketing' || !topic.channels.includes(channel)) {
      errors.push(`unsubscribed: "${part}" is not a marketing topic offered on ${channel}`);
      continue;
    }
    unsubscribed.push({
      channel: channel as PreferenceChange['channel'],
      topic: topic.slug,
      status: 'unsubscribed',
    });
  }
  const suppressed = val('suppressed').toLowerCase() || null;
  if (suppressed && !SUPPRESSION_REASONS.includes(suppressed))
    errors.push(`suppressed: "${val('suppressed')}" is not one of ${SUPPRESSION_REASONS.join(', ')}`);
  if (errors.length) return { ok: false, errors };
  return { ok: true, row: { email: (email as { email: string }).email, patch, unsubscribed, suppressed } };
}

async function importRow(core: Core, origin: Origin, row: ImportRow) {
  await core.db.knex.transaction(async (trx) => {
    const { contact } = await upsertContactIn(core, trx, origin, row.email, row.patch);
    if (row.unsubscribed.length) {
      await applyPreferenceChanges(core, trx, origin, contact.id, row.unsubscribed, { via: 'import' });
    }
    if (row.suppressed) {
      const emailHash = keyedHash(core.config.hashSecret, 'email', row.email);
      if (
        await insertSuppression(trx, { email_hash: emailHash, reason: row.suppressed, actor: origin.actor })
      ) {
        await core.ledger.append(trx, origin, {
          type: 'suppression.added',
          contactId: contact.id,
          channel: 'email',
          newValue: row.suppressed,
          data: { emailHash },
        });
      }
    }
  });
}

/** Runs a job to the end; progress is written to import_jobs as it goes. */
export async function runImport(core: Core, jobId: string, file: string, defaultAccount: string | null) {
  const knex = core.db.knex;
  const origin: Origin = { actor: `import:${jobId}` };
  const errors: { line: number; message: string }[] = [];
  let processed = 0;
  let imported = 0;
  let failed = 0;
  const progress = () =>
    knex('import_jobs')
      .where({ id: jobId })
      .update({
        processed_rows: processed,
        imported_rows: imported,
        failed_rows: failed,
        errors: JSON.stringify(errors.sort((a, b) => a.line - b.line)),
      });
  await knex('import_jobs').where({ id: jobId }).update({ status: 'running', started_at: new Date() });
  const lanes: Promise<void>[] = Array.from({ length: core.db.kind === 'pg' ? IMPORT_LANES : 1 }, () =>
    Promise.resolve(),
  );
  const laneOf = (email: string) => {
    let h = 0;
    for (const ch of canonicalEmail(email)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return h % lanes.length;
  };
  const fail = (line: number, err: unknown) => {
    failed++;
    // Our own refusals say why; anything else is reported without internals.
    const message =
      err instanceof AppError
        ? err.message + (err.details.length ? ` (${err.details.map((d) => d.message).join('; ')})` : '')
        : 'could not be saved (database error); nothing of this row was written';
    if (errors.length < MAX_ERRORS_KEPT) errors.push({ line, message });
  };
  try {
    const topics = await listTopics(knex);
    const parser = createReadStream(file).pipe(
      parse({
        columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
        bom: true,
        skip_empty_lines: true,
        info: true,
        relax_quotes: false,
      }),
    );
    let headerChecked = false;
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      if (!headerChecked) {
        headerChecked = true;
        if (!('email' in record))
          throw new AppError('validation_failed', 'The first line must name the columns, including "email".');
      }
      processed++;
      const line = info.lines;
      const read = readImportRow(record, { region: core.config.defaultPhoneRegion, topics, defaultAccount });
      if (!read.ok) {
        fail(line, new AppError('validation_failed', read.errors.join('; ')));
      } else {
        // Rows run on a few lanes at once; a row's lane follows its address, so two rows for
        // one person keep their file order.
        const lane = laneOf(read.row.email);
        lanes[lane] = lanes[lane].then(() =>
          importRow(core, origin, read.row).then(
            () => {
              imported++;
            },
            (err) => fail(line, err),
          ),
        );
      }
      if (processed % PROGRESS_EVERY === 0) {
        await Promise.all(lanes); // bounded memory: at most PROGRESS_EVERY rows queued
        await progress();
      }
    }
    await Promise.all(lanes);
    await progress();
    await knex('import_jobs')
      .where({ id: jobId })
      .update({ status: 'done', finished_at: new Date(), total_rows: processed });
  } catch (err) {
    const message =
      err instanceof AppError
        ? err.message
        : `The file could not be read as CSV: ${(err as Error).message}`.slice(0, 500);
    errors.push({ line: 0, message });
    await progress();
    await knex('import_jobs')
      .where({ id: jobId })
      .update({ status: 'failed', finished_at: new Date(), total_rows: processed });
  } finally {
    await rm(path.dirname(file), { recursive: true, force: true });
  }
}

/** Receives the upload into a temporary file; the CSRF field must come before the file. */
function receive(
  req: Request,
  csrf: string,
): Promise<{ file: string; filename: string; fields: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: MAX_FILE_BYTES, fields: 10 } });
    } catch {
      return reject(
        new AppError('validation_failed', 'Upload the file with the form (multipart/form-data).'),
      );
    }
    const fields: Record<string, string> = {};
    let saved: Promise<{ file: string; filename: string }> | null = null;
    let failure: AppError | null = null;
    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    bb.on('file', (_name, stream, info) => {
      if (!csrfMatches(csrf, fields.csrf)) {
        failure = new AppError(
          'forbidden',
          'This form expired or did not come from the console. Reload and try again.',
        );
        stream.resume();
        return;
      }
      saved = (async () => {
        const dir = await mkdtemp(path.join(tmpdir(), 'pc-import-'));
        const file = path.join(dir, 'upload.csv');
        await new Promise<void>((ok, ko) => {
          const out = createWriteStream(file);
          stream.on('limit', () => {
            failure = new AppError(
              'payload_too_large',
              `The file is larger than ${MAX_FILE_BYTES / 1024 / 1024} MB: split it.`,
            );
          });
          stream.pipe(out).on('finish', ok).on('error', ko);
        });
        return { file, filename: (info.filename || 'upload.csv').slice(0, 200) };
      })();
    });
    bb.on('error', () => reject(new AppError('validation_failed', 'The upload could not be read.')));
    bb.on('close', async () => {
      try {
        const got = saved ? await saved : null;
        if (failure || !got) {
          if (got) await rm(path.dirname(got.file), { recursive: true, force: true });
          return reject(failure ?? new AppError('validation_failed', 'Choose a CSV file to upload.'));
        }
        resolve({ ...got, fields });
      } catch (err) {
        reject(err);
      }
    });
    req.pipe(bb);
  });
}

export function recentImports(knex: Knex) {
  return knex('import_jobs').orderBy('created_at', 'desc').limit(20);
}

export function importJob(knex: Knex, id: string) {
  return knex('import_jobs').where({ id }).first();
}

export async function createImportJob(
  knex: Knex,
  job: { createdBy: string; accountId: string | null; filename: string },
): Promise<{ id: string }> {
  const [row] = await knex('import_jobs')
    .insert({
      created_by: job.createdBy,
      account_id: job.accountId,
      filename: job.filename,
      status: 'pending',
    })
    .returning('id');
  return row;
}

export function importRoutes(ctx: AppContext) {
  const r = Router();

  r.get('/admin/import', can('owner', 'staff'), async (req: Request, res: Response) => {
    const [jobs, accounts] = await Promise.all([recentImports(ctx.db.knex), listAccounts(ctx.db.knex)]);
    render(req, res, 'import', 'Import contacts', { jobs, accounts, columns: IMPORT_COLUMNS });
  });

  r.post('/admin/import', can('owner', 'staff'), async (req: Request, res: Response) => {
    const staff = req.staff as StaffSession;
    const upload = await receive(req, staff.csrf);
    const account = (upload.fields.account ?? '').trim() || null;
    let accountId: string | null = null;
    if (account) {
      const a = await accountByExternalId(ctx.db.knex, account);
      if (!a) {
        await rm(path.dirname(upload.file), { recursive: true, force: true });
        throw new AppError('validation_failed', `No account "${account}".`);
      }
      accountId = a.id;
    }
    const job = await createImportJob(ctx.db.knex, {
      createdBy: staff.userId,
      accountId,
      filename: upload.filename,
    });
    // The job runs in this process after the answer; the progress page follows it.
    runImport(ctx, job.id, upload.file, account).catch((err) =>
      ctx.logger.error({ err, jobId: job.id }, 'import failed'),
    );
    res.redirect(303, `/admin/import/${job.id}`);
  });

  r.get('/admin/import/:id', can('owner', 'staff'), async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const job = isUuid(id) ? await importJob(ctx.db.knex, id) : undefined;
    if (!job) throw new AppError('not_found', 'No such import.');
    const errors = typeof job.errors === 'string' ? JSON.parse(job.errors) : job.errors;
    render(req, res, 'import-job', `Import of ${job.filename ?? 'a file'}`, {
      job,
      errors,
      running: job.status === 'pending' || job.status === 'running',
    });
  });

  return r;
}
