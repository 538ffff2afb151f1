// CSV import of contacts (migrating from another tool): upload → a durable job → a progress
// page. The file is stored in the database in parts, then parsed as a stream (csv-parse), so
// 100,000 rows never sit in memory and any process can resume the job. Each row is one transaction: contact, prior opt-outs and
// suppression land together or not at all; a bad row is reported with its line number and
// changes nothing. Every change is on the ledger with actor `import:<job id>`.

import { pipeline, Readable } from 'node:stream';
import busboy from 'busboy';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import { type Request, type Response, Router } from 'express';
import type { Knex } from 'knex';
import type { AppContext } from '../app.ts';
import {
  accountByExternalId,
  accountById,
  type ContactPatch,
  canonicalEmail,
  cleanEmail,
  cleanLocale,
  cleanRegion,
  contactByEmail,
  isTimeZone,
  MAX_NAME,
  parsePhone,
  suppressIn,
  upsertContactIn,
} from '../contacts/service.ts';
import type { Core } from '../core.ts';
import { affectedRows } from '../db.ts';
import { DomainError, isDatabaseUnavailable } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { importBatch, SeenAddresses } from '../imports/service.ts';
import { QUEUES } from '../jobs/jobs.ts';
import { CSV_CAST } from '../ledger/export.ts';
import type { Origin } from '../ledger/ledger.ts';
import { applyPreferenceChanges, listTopics, type PreferenceChange } from '../preferences/service.ts';
import { can, render } from './render.ts';
import { accountIdsByExternalId, listAccounts } from './service.ts';
import { csrfMatches, type StaffSession } from './sessions.ts';

const MAX_FILE_BYTES = 100 * 1024 * 1024;
const MAX_ERRORS_KEPT = 1000;
/** Rows per batch transaction: large enough to amortise round trips, small enough that the
 * feed's commit lock (one advisory lock while a commit's events are numbered) is held briefly. */
const BATCH_ROWS = 2000;
/** Batches written at once on PostgreSQL (PGlite has one connection: one). */
const IMPORT_LANES = 2;
export const IMPORT_COLUMNS = [
  'email',
  'name',
  'phone',
  'account',
  'locale',
  'time_zone',
  'region',
  'unsubscribed',
  'suppressed',
];
const SUPPRESSION_REASONS = ['bounce', 'spam_complaint', 'manual'];

const PREVIEW_ROWS = 10;

export interface ImportError {
  line: number;
  message: string;
  /** The row as the file had it, for the failed rows' CSV. */
  record?: Record<string, string>;
}

interface PreviewRow {
  line: number;
  email: string;
  name: string;
  phone: string;
  account: string;
  unsubscribed: string;
  suppressed: string;
}

function previewOf(line: number, row: ImportRow): PreviewRow {
  return {
    line,
    email: row.email,
    name: row.patch.name ?? '',
    phone: row.patch.phone ?? '',
    account: row.patch.accountExternalId ?? '',
    unsubscribed: row.unsubscribed.map((u) => `${u.channel}:${u.topic ?? '*'}`).join('; '),
    suppressed: row.suppressed ?? '',
  };
}

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
  if (val('region')) {
    const r = cleanRegion(val('region'));
    if (!r) errors.push(`region: "${val('region')}" is not an ISO 3166-2 region such as US-FL`);
    else patch.region = r;
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

async function importRow(core: Core, origin: Origin, row: ImportRow, onlyAccountId: string | null) {
  await core.db.knex.transaction(async (trx) => {
    if (onlyAccountId) {
      // A customer administrator's import never moves someone else's contact into their account.
      const existing = await contactByEmail(trx, row.email);
      if (existing && existing.account_id !== onlyAccountId)
        throw new DomainError(
          'validation_failed',
          'email: this address is a contact of another account; not imported',
        );
    }
    const { contact } = await upsertContactIn(core, trx, origin, row.email, row.patch);
    if (row.unsubscribed.length) {
      await applyPreferenceChanges(core, trx, origin, contact.id, row.unsubscribed, { via: 'import' });
    }
    if (row.suppressed) {
      await suppressIn(core, trx, origin, {
        email: row.email,
        contactId: contact.id,
        reason: row.suppressed,
      });
    }
  });
}

const UPLOAD_PART_BYTES = 1024 * 1024;

async function uploadSize(knex: Knex, importId: string): Promise<number> {
  const row = await knex('import_uploads')
    .where({ import_id: importId })
    .sum({ n: knex.raw('octet_length(data)') })
    .first();
  return Number(row?.n ?? 0);
}

/** The stored upload, part by part (never the whole file in memory). */
async function* uploadParts(knex: Knex, importId: string) {
  for (let part = 0; ; part++) {
    const row = await knex('import_uploads').where({ import_id: importId, part }).first('data');
    if (!row) return;
    yield Buffer.from(row.data as Uint8Array);
  }
}

/**
 * The upload as text. Spreadsheets save CSV as UTF-8, UTF-16 (Excel's "Unicode text") or
 * Windows-1252/Latin-1 ("CSV" on older Excel): the encoding is told from the first part (a
 * byte-order mark, the zero bytes of UTF-16, or bytes that are not UTF-8) and the file is
 * converted. A file that turns out not to be UTF-8 after a first part that was is refused with
 * the line, rather than read wrongly.
 */
export async function* decodedParts(
  parts: AsyncIterable<Buffer>,
  fed: { bytes: number } = { bytes: 0 },
): AsyncGenerator<string> {
  let decoder: TextDecoder | null = null;
  let lines = 1;
  for await (const part of parts) {
    fed.bytes += part.length;
    decoder ??= new TextDecoder(encodingOf(part), { fatal: true });
    let text: string;
    try {
      text = decoder.decode(part, { stream: true });
    } catch {
      throw new DomainError(
        'validation_failed',
        `The file is not UTF-8 throughout (near line ${lines}): save it as "CSV UTF-8" and upload it again.`,
      );
    }
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
    yield text;
  }
  const rest = decoder?.decode();
  if (rest) yield rest;
}

export function encodingOf(head: Buffer): string {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  // UTF-16 without a mark: ASCII text has a zero byte beside every character
  if (head.length >= 2 && head[0] !== 0 && head[1] === 0) return 'utf-16le';
  if (head.length >= 2 && head[0] === 0 && head[1] !== 0) return 'utf-16be';
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, lastWholeChar(head)));
    return 'utf-8';
  } catch {
    return 'windows-1252';
  }
}

/** Where the last complete UTF-8 character of a part ends (a part may cut one in two). */
function lastWholeChar(buf: Buffer) {
  const i = buf.length;
  for (let k = 1; k <= 3 && i - k >= 0; k++) {
    const b = buf[i - k];
    if ((b & 0xc0) === 0x80) continue; // continuation byte
    if (b >= 0xc0) return i - k; // a lead byte whose character may be cut
    break;
  }
  return i;
}

/**
 * The import job: reads the stored upload and writes its rows in batches of BATCH_ROWS, each
 * batch one transaction (importBatch: set-based, every change on the ledger), a checkpoint
 * after each. Resumable: a run after a crash (pg-boss retries the job when the dead process
 * stops its heartbeat) skips the records before the checkpoint and re-applies the batch or two
 * after it, which writes nothing twice (an upsert that changes nothing, an opt-out already
 * there and a suppression already held write no row and no ledger event) and counts them once
 * (the counts restart from the checkpoint's). A batch that meets something it did not foresee
 * is rolled back and its rows are written one at a time, so a bad row is reported by line and
 * changes nothing. A database that goes away fails the run, for the queue to retry; a bad
 * file ends it. Either way the upload is deleted once the import ends.
 */
export async function runImportJob(core: Core, jobId: string) {
  const knex = core.db.knex;
  const job = await knex('import_jobs').where({ id: jobId }).first();
  if (!job || job.status === 'done' || job.status === 'failed') return;
  const origin: Origin = { actor: `import:${jobId}` };
  const checkOnly = Boolean(job.check_only);
  const stored = typeof job.errors === 'string' ? JSON.parse(job.errors) : job.errors;
  const errors: ImportError[] = Array.isArray(stored) ? stored : [];
  const storedPreview = typeof job.preview === 'string' ? JSON.parse(job.preview) : job.preview;
  const preview: PreviewRow[] = Array.isArray(storedPreview) ? storedPreview : [];
  // Each address's first line: a later row for the same person is reported, not written (it
  // used to overwrite the earlier one silently). Rebuilt from the file on a resumed run.
  const firstLine = new SeenAddresses();
  const accounts = await accountIdsByExternalId(knex);
  const resumeAt = Number(job.resume_record) || 0;
  let processed = resumeAt;
  let imported = resumeAt ? Number(job.imported_rows) : 0;
  let failed = resumeAt ? Number(job.failed_rows) : 0;
  // How much of the file the settled batches had been read from (the parser reads a part or two
  // ahead of the rows it hands out, so this runs a little ahead of the rows written).
  let readBytes = resumeAt ? Number(job.read_bytes) : 0;
  const fed = { bytes: 0 };
  const keep = (e: ImportError) => {
    if (errors.length < MAX_ERRORS_KEPT) errors.push(e);
  };
  const checkpoint = () =>
    knex('import_jobs')
      .where({ id: jobId })
      .update({
        processed_rows: processed,
        imported_rows: imported,
        failed_rows: failed,
        resume_record: processed,
        read_bytes: readBytes,
        errors: JSON.stringify(errors.sort((a, b) => a.line - b.line)),
        preview: JSON.stringify(preview),
      });
  const finish = async (status: 'done' | 'failed' | 'checked') => {
    await knex.transaction(async (trx) => {
      await trx('import_jobs')
        .where({ id: jobId })
        .update({ status, finished_at: new Date(), total_rows: processed });
      // A checked file is kept for the import that may follow (pruned after a day).
      if (status !== 'checked') await trx('import_uploads').where({ import_id: jobId }).del();
    });
  };
  await knex('import_jobs')
    .where({ id: jobId })
    .update({
      status: 'running',
      started_at: job.started_at ?? new Date(),
      file_bytes: await uploadSize(knex, jobId),
    });

  const onlyAccountId = job.account_only ? (job.account_id as string) : null;
  /** Writes a batch's good rows; a refused row becomes an error with its line and record. */
  const write = async (batch: Batch): Promise<{ imported: number; errors: ImportError[] }> => {
    if (checkOnly || !batch.rows.length) return { imported: batch.rows.length, errors: [] };
    try {
      const done = await importBatch(core, origin, batch.rows, { accounts, onlyAccountId });
      const byLine = new Map(batch.rows.map((r) => [r.line, r.record]));
      return {
        imported: done.imported,
        errors: done.refused.map((e) => ({ ...e, record: byLine.get(e.line) })),
      };
    } catch (err) {
      if (isDatabaseUnavailable(err)) throw err; // not the rows' fault: the run is retried
      // Something the batch did not foresee: each row on its own, to find the one at fault.
      const out = { imported: 0, errors: [] as ImportError[] };
      for (const r of batch.rows) {
        try {
          await importRow(core, origin, r, onlyAccountId);
          out.imported++;
        } catch (rowErr) {
          if (isDatabaseUnavailable(rowErr)) throw rowErr;
          out.errors.push({ line: r.line, message: rowProblem(rowErr), record: r.record });
        }
      }
      return out;
    }
  };
  // Batches in flight, oldest first: a few at once on PostgreSQL (rows of one person never
  // repeat, so batches touch different contacts), one on PGlite. They are settled in order, so
  // the checkpoint never passes a batch that has not committed.
  const inFlight: { batch: Batch; result: Promise<{ imported: number; errors: ImportError[] }> }[] = [];
  const lanes = core.db.kind === 'pg' ? IMPORT_LANES : 1;
  const settleOldest = async () => {
    const head = inFlight.shift();
    if (!head) return;
    const result = await head.result;
    processed += head.batch.records;
    readBytes = Math.max(readBytes, head.batch.readBytes);
    imported += result.imported;
    failed += head.batch.errors.length + result.errors.length;
    for (const e of head.batch.errors) keep(e);
    for (const e of result.errors) keep(e);
    await checkpoint();
  };
  const dispatch = async (batch: Batch) => {
    const result = write(batch);
    result.catch(() => {}); // awaited in order by settleOldest; this keeps a failure from going unhandled
    inFlight.push({ batch, result });
    if (inFlight.length >= lanes) await settleOldest();
  };
  let batch = newBatch();
  try {
    const topics = await listTopics(knex);
    const parser = parse({
      columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
      bom: true,
      skip_empty_lines: true,
      info: true,
      relax_quotes: false,
    });
    // pipeline, not pipe: a failure reading the upload (the database, the encoding) reaches
    // the loop below instead of going unhandled
    pipeline(Readable.from(decodedParts(uploadParts(knex, jobId), fed)), parser, () => {});
    let headerChecked = false;
    let record = 0;
    for await (const { record: rec, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      if (!headerChecked) {
        headerChecked = true;
        if (!('email' in rec))
          throw new DomainError(
            'validation_failed',
            'The first line must name the columns, including "email".',
          );
      }
      const line = info.lines;
      const read = readImportRow(rec, {
        region: core.config.defaultPhoneRegion,
        topics,
        defaultAccount: job.default_account,
      });
      const earlier = read.ok ? firstLine.firstOr(canonicalEmail(read.row.email), line) : undefined;
      if (++record <= resumeAt) continue; // written (and counted) before the checkpoint
      batch.records++;
      const account = read.ok ? read.row.patch.accountExternalId : undefined;
      const problem = !read.ok
        ? read.errors.join('; ')
        : earlier !== undefined
          ? `email: the same address as line ${earlier}; only the first row for a person is imported`
          : job.account_only && account !== job.default_account
            ? `account: this import is for account "${job.default_account}" only; leave the column empty or name it`
            : account && !accounts.has(account)
              ? `account: no account "${account}" yet; create it on the Accounts page (/admin/accounts), then import this row again`
              : null;
      if (problem || !read.ok) {
        batch.errors.push({ line, message: problem ?? '', record: rec });
      } else {
        if (preview.length < PREVIEW_ROWS) preview.push(previewOf(line, read.row));
        batch.rows.push({ ...read.row, line, record: rec });
      }
      if (batch.records >= BATCH_ROWS) {
        batch.readBytes = fed.bytes;
        await dispatch(batch);
        batch = newBatch();
      }
    }
    batch.readBytes = fed.bytes;
    if (batch.records) await dispatch(batch);
    while (inFlight.length) await settleOldest();
    readBytes = fed.bytes;
    await checkpoint();
    await finish(checkOnly ? 'checked' : 'done');
  } catch (err) {
    if (isDatabaseUnavailable(err)) {
      await Promise.allSettled(inFlight.map((f) => f.result));
      throw err; // the queue retries; the checkpoint holds
    }
    // The file went bad part way (a stray quote, a wrong encoding): the batches already sent
    // are settled and counted, so the job's counts are what was written; the rows read since
    // the last batch, and the rest of the file, are not written.
    while (inFlight.length) await settleOldest();
    const message =
      err instanceof DomainError
        ? err.message
        : `The file could not be read as CSV: ${(err as Error).message}`.slice(0, 500);
    errors.push({ line: 0, message });
    await checkpoint();
    await finish('failed');
  }
}

interface Batch {
  /** Records read into this batch (good and bad): what the checkpoint moves past once it commits. */
  records: number;
  rows: (ImportRow & { line: number; record: Record<string, string> })[];
  /** Rows refused before writing (bad values, duplicates, unknown accounts). */
  errors: ImportError[];
  /** Bytes of the file read when the batch was sent. */
  readBytes: number;
}

const newBatch = (): Batch => ({ records: 0, rows: [], errors: [], readBytes: 0 });

/** What a row's failure says: our own refusals say why; anything else without internals. */
function rowProblem(err: unknown) {
  return err instanceof DomainError
    ? err.message + (err.details.length ? ` (${err.details.map((d) => d.message).join('; ')})` : '')
    : 'could not be saved (database error); nothing of this row was written';
}

/**
 * Receives the upload into the database, part by part, for the import job to read (the CSRF
 * field, and the account, come before the file in the form; a foreign post stores nothing).
 */
function receive(
  req: Request,
  csrf: string,
  store: (
    fields: Record<string, string>,
    filename: string,
  ) => Promise<{ append(part: Buffer): Promise<void>; abort(): Promise<void> }>,
): Promise<{ fields: Record<string, string>; stored: boolean }> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: MAX_FILE_BYTES, fields: 10 } });
    } catch {
      return reject(
        new DomainError('validation_failed', 'Upload the file with the form (multipart/form-data).'),
      );
    }
    const fields: Record<string, string> = {};
    let saved: Promise<void> | null = null;
    let failure: DomainError | null = null;
    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    bb.on('file', (_name, stream, info) => {
      if (!csrfMatches(csrf, fields.csrf)) {
        failure = new DomainError(
          'forbidden',
          'This form expired or did not come from the console. Reload and try again.',
        );
        stream.resume();
        return;
      }
      saved = (async () => {
        let target: Awaited<ReturnType<typeof store>> | null = null;
        try {
          target = await store(fields, (info.filename || 'upload.csv').slice(0, 200));
          let buffered: Buffer[] = [];
          let size = 0;
          stream.on('limit', () => {
            failure = new DomainError(
              'payload_too_large',
              `The file is larger than ${MAX_FILE_BYTES / 1024 / 1024} MB: split it.`,
            );
          });
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            buffered.push(chunk);
            size += chunk.length;
            if (size >= UPLOAD_PART_BYTES) {
              await target.append(Buffer.concat(buffered));
              buffered = [];
              size = 0;
            }
          }
          if (size) await target.append(Buffer.concat(buffered));
          if (failure) await target.abort();
        } catch (err) {
          stream.resume();
          await target?.abort().catch(() => {});
          failure ??= err instanceof DomainError ? err : null;
          if (!failure) throw err;
        }
      })();
    });
    bb.on('error', () => reject(new DomainError('validation_failed', 'The upload could not be read.')));
    bb.on('close', async () => {
      try {
        if (saved) await saved;
        if (failure) return reject(failure);
        if (!saved) return reject(new DomainError('validation_failed', 'Choose a CSV file to upload.'));
        resolve({ fields, stored: true });
      } catch (err) {
        reject(err);
      }
    });
    req.pipe(bb);
  });
}

export function recentImports(knex: Knex, accountId?: string | null) {
  const q = knex('import_jobs').orderBy('created_at', 'desc').limit(20);
  if (accountId !== undefined) q.where({ account_id: accountId, account_only: true });
  return q;
}

export function importJob(knex: Knex, id: string) {
  return knex('import_jobs').where({ id }).first();
}

/** A new import and its upload target; the upload lands part by part, and abort() removes both. */
export async function createImportJob(
  knex: Knex,
  job: {
    createdBy: string | null;
    accountId: string | null;
    defaultAccount: string | null;
    filename: string;
    checkOnly?: boolean;
    accountOnly?: boolean;
  },
) {
  const [row] = await knex('import_jobs')
    .insert({
      created_by: job.createdBy,
      account_id: job.accountId,
      default_account: job.defaultAccount,
      filename: job.filename,
      status: 'pending',
      check_only: job.checkOnly ?? false,
      account_only: job.accountOnly ?? false,
    })
    .returning('id');
  let part = 0;
  return {
    id: row.id as string,
    append: (data: Buffer) =>
      knex('import_uploads')
        .insert({ import_id: row.id, part: part++, data })
        .then(() => {}),
    abort: () =>
      knex('import_jobs')
        .where({ id: row.id })
        .del()
        .then(() => {}),
  };
}

/** A checked file not imported within a day is dropped (the check's report stays). */
export async function pruneCheckedUploads(knex: Knex, now: Date) {
  await knex('import_uploads')
    .whereIn(
      'import_id',
      knex('import_jobs')
        .select('id')
        .where({ status: 'checked' })
        .where('finished_at', '<', new Date(now.getTime() - 24 * 3600_000)),
    )
    .del();
}

/** Turns a checked job into the import itself, once (a second press finds it no longer checked). */
async function importChecked(knex: Knex, id: string) {
  return knex.transaction(async (trx) => {
    const job = await trx('import_jobs').where({ id }).forUpdate().first('status');
    if (job?.status !== 'checked') return 'not_checked' as const;
    const kept = await trx('import_uploads').where({ import_id: id }).first('part');
    if (!kept) return 'gone' as const;
    const moved = await trx('import_jobs').where({ id, status: 'checked' }).update({
      status: 'pending',
      check_only: false,
      processed_rows: 0,
      imported_rows: 0,
      failed_rows: 0,
      resume_record: 0,
      read_bytes: 0,
      total_rows: 0,
      errors: '[]',
      preview: '[]',
      started_at: null,
      finished_at: null,
    });
    return affectedRows(moved) ? ('queued' as const) : ('not_checked' as const);
  });
}

/**
 * A running import's share of its file read and written, and the time left at the rate so
 * far (null until there is a rate to go by).
 */
export function progressOf(
  job: { file_bytes?: number | string; read_bytes?: number | string; started_at?: Date | string | null },
  now: Date,
) {
  const total = Number(job.file_bytes ?? 0);
  const read = Math.min(Number(job.read_bytes ?? 0), total);
  if (!total) return null;
  const share = read / total;
  const elapsed = job.started_at ? (now.getTime() - new Date(job.started_at).getTime()) / 1000 : 0;
  const secondsLeft = share > 0.01 && elapsed > 1 ? Math.round((elapsed * (1 - share)) / share) : null;
  return { percent: Math.floor(share * 100), read, total, secondsLeft };
}

export function importRoutes(ctx: AppContext) {
  const r = Router();

  // A customer administrator imports into their own account only, and sees only those imports.
  const ownAccount = (req: Request) => {
    const staff = req.staff as StaffSession;
    return staff.role === 'customer_admin' ? (staff.accountId ?? null) : undefined;
  };
  const jobFor = async (req: Request, id: string) => {
    const job = isUuid(id) ? await importJob(ctx.db.knex, id) : undefined;
    const own = ownAccount(req);
    if (!job || (own !== undefined && (job.account_id !== own || !job.account_only)))
      throw new DomainError('not_found', 'No such import.');
    return job;
  };

  r.get('/admin/import', can('owner', 'staff', 'customer_admin'), async (req: Request, res: Response) => {
    const own = ownAccount(req);
    const [jobs, accounts] = await Promise.all([
      recentImports(ctx.db.knex, own),
      own === undefined ? listAccounts(ctx.db.knex) : Promise.resolve([]),
    ]);
    render(req, res, 'import', 'Import contacts', { jobs, accounts, columns: IMPORT_COLUMNS });
  });

  r.post('/admin/import', can('owner', 'staff', 'customer_admin'), async (req: Request, res: Response) => {
    const staff = req.staff as StaffSession;
    const own = ownAccount(req);
    let importId = '';
    await receive(req, staff.csrf, async (fields, filename) => {
      // The account field comes before the file: a wrong one stores no byte of the upload.
      let account = (fields.account ?? '').trim() || null;
      let accountId: string | null = null;
      if (own !== undefined) {
        const mine = own ? await accountById(ctx.db.knex, own) : undefined;
        if (!mine) throw new DomainError('forbidden', 'Your user has no account to import into.');
        account = mine.external_id;
        accountId = mine.id;
      } else if (account) {
        const a = await accountByExternalId(ctx.db.knex, account);
        if (!a)
          throw new DomainError(
            'validation_failed',
            `No account "${account}": create it on the Accounts page (/admin/accounts) first.`,
          );
        accountId = a.id;
      }
      const job = await createImportJob(ctx.db.knex, {
        createdBy: staff.userId,
        accountId,
        defaultAccount: account,
        filename,
        checkOnly: fields.check_only === 'yes',
        accountOnly: own !== undefined,
      });
      importId = job.id;
      return job;
    });
    // The rows are written by a durable job: any process picks it up, and resumes it after a crash.
    await ctx.jobs.send(QUEUES.importRun, { importId }, { singletonKey: importId });
    res.redirect(303, `/admin/import/${importId}`);
  });

  r.get('/admin/import/:id', can('owner', 'staff', 'customer_admin'), async (req: Request, res: Response) => {
    const id = String(req.params.id);
    const job = await jobFor(req, id);
    const errors = (typeof job.errors === 'string' ? JSON.parse(job.errors) : job.errors) as ImportError[];
    const preview = typeof job.preview === 'string' ? JSON.parse(job.preview) : job.preview;
    const kept =
      job.status === 'checked' &&
      Boolean(await ctx.db.knex('import_uploads').where({ import_id: id }).first('part'));
    render(req, res, 'import-job', `${job.check_only ? 'Check' : 'Import'} of ${job.filename ?? 'a file'}`, {
      job,
      errors,
      preview,
      kept,
      unknownAccount: errors.some((e) => e.message.startsWith('account: no account')),
      running: job.status === 'pending' || job.status === 'running',
      progress: progressOf(job, new Date()),
    });
  });

  // After a check: import the same file (the stored upload), from its first row.
  r.post(
    '/admin/import/:id/run',
    can('owner', 'staff', 'customer_admin'),
    async (req: Request, res: Response) => {
      const id = String(req.params.id);
      await jobFor(req, id);
      const outcome = await importChecked(ctx.db.knex, id);
      if (outcome === 'gone')
        throw new DomainError(
          'conflict',
          'The checked file is no longer kept (a day has passed): upload it again.',
        );
      if (outcome === 'queued')
        await ctx.jobs.send(QUEUES.importRun, { importId: id }, { singletonKey: `${id}:run` });
      res.redirect(303, `/admin/import/${id}`);
    },
  );

  // The rows that were not imported, as the file had them, with the problem and line first: fix
  // them in a spreadsheet and import this file.
  r.get(
    '/admin/import/:id/failed.csv',
    can('owner', 'staff', 'customer_admin'),
    async (req: Request, res: Response) => {
      const id = String(req.params.id);
      const job = await jobFor(req, id);
      const errors = (typeof job.errors === 'string' ? JSON.parse(job.errors) : job.errors) as ImportError[];
      const extra = new Set<string>();
      for (const e of errors)
        for (const k of Object.keys(e.record ?? {})) if (!IMPORT_COLUMNS.includes(k)) extra.add(k);
      const columns = ['line', 'problem', ...IMPORT_COLUMNS, ...extra];
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="failed-rows-${id.slice(0, 8)}.csv"`);
      res.setHeader('Cache-Control', 'no-store');
      res.send(
        stringify(
          errors.map((e) => ({ line: e.line || '', problem: e.message, ...(e.record ?? {}) })),
          // a cell that starts like a formula is quoted (CSV injection)
          { header: true, columns, ...CSV_CAST },
        ),
      );
    },
  );

  return r;
}
