// The console's CSV import as a durable job (SPEC "Operations"): the upload, stored in the
// database in parts, is decoded and parsed as a stream (csv-parse), validated row by row and
// written in batches (batch.ts: set-based, every change on the ledger with actor
// `import:<job id>`), with a checkpoint after each batch so any process can resume the job. A bad
// row is reported with its line number and changes nothing.

import { pipeline, Readable } from 'node:stream';
import {
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
import { DomainError, isDatabaseUnavailable } from '../errors.ts';
import type { Origin } from '../ledger/ledger.ts';
import { applyPreferenceChanges, listTopics, type PreferenceChange } from '../preferences/service.ts';
import { importBatch } from './batch.ts';
import {
  describeCsvError,
  type LocatedCsvError,
  NumberedCsvParser,
  type NumberedRecord,
  recordOf,
} from './csv.ts';
import {
  accountIdsByExternalId,
  finishImport,
  importJob,
  markRunning,
  saveCheckpoint,
  storedList,
  uploadParts,
} from './queries.ts';
import { SeenAddresses } from './seen.ts';

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
const NOTHING_LISTED: readonly string[] = Object.freeze([]);

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

interface ImportRow {
  email: string;
  patch: ContactPatch;
  unsubscribed: PreferenceChange[];
  suppressed: string | null;
}

/** Reads one CSV record into what the import writes, or the reasons it cannot. */
function readImportRow(
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
  const listed = val('unsubscribed');
  for (const part of listed
    ? listed
        .split(/[;|]/)
        .map((s) => s.trim())
        .filter(Boolean)
    : NOTHING_LISTED) {
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

/**
 * The upload as text. Spreadsheets save CSV as UTF-8, UTF-16 (Excel's "Unicode text") or
 * Windows-1252/Latin-1 ("CSV" on older Excel): the encoding is told from the first part (a
 * byte-order mark, the zero bytes of UTF-16, or bytes that are not UTF-8) and the file is
 * converted. A file that turns out not to be UTF-8 after a first part that was is refused with
 * the line, rather than read wrongly.
 */
async function* decodedParts(
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
    // The parser turns all it is handed into records in one go, with no turn of the event loop
    // for the lanes waiting on their next statement (a stored part is 20,000 rows): 64 KB at a
    // time, never cutting a surrogate pair (the parser encodes each piece as UTF-8 on its own).
    for (let at = 0; at < text.length; ) {
      let end = Math.min(at + PARSE_SLICE, text.length);
      if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end++;
      yield text.slice(at, end);
      at = end;
    }
  }
  const rest = decoder?.decode();
  if (rest) yield rest;
}

const PARSE_SLICE = 64 * 1024;
const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;

function encodingOf(head: Buffer): string {
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
  const job = await importJob(knex, jobId);
  if (!job || job.status === 'done' || job.status === 'failed') return;
  const origin: Origin = { actor: `import:${jobId}` };
  const checkOnly = Boolean(job.check_only);
  const errors = storedList<ImportError>(job.errors);
  const preview = storedList<PreviewRow>(job.preview);
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
    saveCheckpoint(knex, jobId, {
      processed,
      imported,
      failed,
      readBytes,
      errors: errors.sort((a, b) => a.line - b.line),
      preview,
    });
  const finish = (status: 'done' | 'failed' | 'checked') => finishImport(knex, jobId, status, processed);
  await markRunning(knex, jobId, job.started_at ? new Date(job.started_at) : new Date());

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
  let saving: Promise<unknown> = Promise.resolve();
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
    // saved while the next batches go on; the one before is awaited first, so checkpoints land in
    // order and a failure to save one stops the run a batch later
    await saving;
    saving = checkpoint();
    saving.catch(() => {}); // awaited by the next settle or the end
  };
  // A batch goes out as soon as a lane is free, and the next is read while every lane is busy:
  // a lane that finishes is given its next batch at once. (Waiting for the oldest right after
  // sending left one lane empty while the next 2,000 rows were read.)
  const dispatch = async (batch: Batch) => {
    while (inFlight.length >= lanes) await settleOldest();
    const result = write(batch);
    result.catch(() => {}); // awaited in order by settleOldest; this keeps a failure from going unhandled
    inFlight.push({ batch, result });
  };
  let batch = newBatch();
  // the header's column names, once read (a refusal of the file names a column by them)
  let names: string[] | null = null;
  try {
    const rowContext = {
      region: core.config.defaultPhoneRegion,
      topics: await listTopics(knex),
      defaultAccount: job.default_account,
    };
    // a record of the wrong length, or a stray quote, ends the file with csv-parse's message
    const parser = new NumberedCsvParser({ bom: true, skip_empty_lines: true, relax_quotes: false });
    // pipeline, not pipe: a failure reading the upload (the database, the encoding) reaches
    // the loop below instead of going unhandled
    pipeline(Readable.from(decodedParts(uploadParts(knex, jobId), fed)), parser, () => {});
    let record = 0;
    for await (const { fields, line, refused } of parser as AsyncIterable<NumberedRecord>) {
      if (refused) throw refused;
      if (!names) {
        names = fields.map((c) => c.trim().toLowerCase());
        if (!names.includes('email'))
          throw new DomainError(
            'validation_failed',
            'The first line must name the columns, including "email".',
          );
        continue;
      }
      const rec = recordOf(names, fields);
      const read = readImportRow(rec, rowContext);
      const earlier = read.ok ? firstLine.firstOr(canonicalEmail(read.row.email), line) : undefined;
      if (++record <= resumeAt) continue; // written (and counted) before the checkpoint
      batch.records++;
      // a turn of the event loop now and then, so a lane's next statement goes out while the
      // file is read (with the 64 KB pieces above: 21,768-25,706 -> 22,277-26,226 rows/s, A/B)
      if (batch.records % 250 === 0) await new Promise((resolve) => setImmediate(resolve));
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
    await saving;
    readBytes = fed.bytes;
    await checkpoint();
    await finish(checkOnly ? 'checked' : 'done');
  } catch (err) {
    if (isDatabaseUnavailable(err)) {
      await Promise.allSettled([...inFlight.map((f) => f.result), saving]);
      throw err; // the queue retries; the checkpoint holds
    }
    // The file went bad part way. A line csv-parse refuses (a stray quote, a row of the wrong
    // length): every row before it is written, the batch being read included, and the message
    // names the line to mend. Anything else (a wrong encoding): the rows read since the last
    // batch are not written. Either way the batches sent are settled and counted, so the job's
    // counts are what was written, and the rest of the file is not.
    const located = typeof (err as Partial<LocatedCsvError>).fileLine === 'number';
    if (located && batch.records) {
      batch.readBytes = fed.bytes;
      await dispatch(batch);
      batch = newBatch();
    }
    while (inFlight.length) await settleOldest();
    await saving;
    const message =
      err instanceof DomainError
        ? err.message
        : located
          ? describeCsvError(err as LocatedCsvError, names ?? []).slice(0, 500)
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
