// The console's CSV import pages: the upload (stored in the database part by part, never whole in
// memory), the durable job it queues (server/imports), the job's progress page, the check-first
// flow and the failed rows as CSV.

import busboy from 'busboy';
import { stringify } from 'csv-stringify/sync';
import { type Request, type Response, Router } from 'express';
import type { AppContext } from '../app.ts';
import { accountByExternalId, accountById } from '../contacts/service.ts';
import { DomainError } from '../errors.ts';
import { isUuid } from '../ids.ts';
import {
  createImportJob,
  IMPORT_COLUMNS,
  type ImportError,
  importChecked,
  importJob,
  progressOf,
  recentImports,
  storedList,
  uploadKept,
} from '../imports/service.ts';
import { QUEUES } from '../jobs/jobs.ts';
import { CSV_CAST } from '../ledger/export.ts';
import { can, render } from './render.ts';
import { listAccounts } from './service.ts';
import { csrfMatches, type StaffSession } from './sessions.ts';

const MAX_FILE_BYTES = 100 * 1024 * 1024;
const UPLOAD_PART_BYTES = 1024 * 1024;

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
    const all = storedList<ImportError>(job.errors);
    // a problem with no line is the file's own (not CSV past a line, not UTF-8, no email column):
    // shown apart, with what to do, since the rows after it were never read
    const errors = all.filter((e) => e.line);
    const stopped = all.find((e) => !e.line) ?? null;
    const preview = storedList(job.preview);
    const kept = job.status === 'checked' && (await uploadKept(ctx.db.knex, id));
    render(req, res, 'import-job', `${job.check_only ? 'Check' : 'Import'} of ${job.filename ?? 'a file'}`, {
      job,
      errors,
      stopped,
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
      const errors = storedList<ImportError>(job.errors);
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
