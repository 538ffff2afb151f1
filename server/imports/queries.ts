// The bulk import's statements: each takes a whole batch at once (the reads and updates as one
// JSON parameter, the same on pg and PGlite; the new contacts and preference rows by COPY on pg,
// bulk-insert.ts), so a batch of thousands of rows costs a handful of round trips instead of
// several per row.
import type { Knex } from 'knex';
import { type Column, insertRows } from '../bulk-insert.ts';
import type { ContactRow } from '../contacts/service.ts';
import { affectedRows, jsonColumn } from '../db.ts';
import type { Channel } from '../domain.ts';
import { uuidV7 } from '../ids.ts';

export type LiveContact = Pick<
  ContactRow,
  'id' | 'email_key' | 'name' | 'phone' | 'locale' | 'time_zone' | 'region' | 'account_id'
>;

const json = (v: unknown) => JSON.stringify(v);

/** The live contacts with these canonical addresses, locked (in id order: no deadlock between batches). */
export async function lockContactsByKey(trx: Knex.Transaction, keys: string[]): Promise<LiveContact[]> {
  if (!keys.length) return [];
  const { rows } = await trx.raw(
    `select id, email_key, name, phone, locale, time_zone, region, account_id
       from contacts
      where email_key in (select json_array_elements_text(?::json)) and erased_at is null
      order by id
        for update`,
    [json(keys)],
  );
  return rows;
}

/** Who holds each of these numbers now. */
export async function phoneHolders(trx: Knex.Transaction, phones: string[]): Promise<Map<string, string>> {
  if (!phones.length) return new Map();
  const { rows } = await trx.raw(
    'select id, phone from contacts where phone in (select json_array_elements_text(?::json))',
    [json(phones)],
  );
  return new Map((rows as { id: string; phone: string }[]).map((r) => [r.phone, r.id]));
}

export interface PreferenceState {
  contact_id: string;
  channel: Channel;
  topic: string | null;
  status: string;
}

export async function preferencesOf(trx: Knex.Transaction, contactIds: string[]): Promise<PreferenceState[]> {
  if (!contactIds.length) return [];
  const { rows } = await trx.raw(
    `select contact_id, channel, topic, status from preferences
      where contact_id in (select json_array_elements_text(?::json)::uuid)`,
    [json(contactIds)],
  );
  return rows;
}

/** Adds the suppressions not held yet; returns the hashes added now. */
export async function insertSuppressions(
  trx: Knex.Transaction,
  rows: { email_hash: string; reason: string; actor: string }[],
): Promise<Set<string>> {
  if (!rows.length) return new Set();
  const { rows: added } = await trx.raw(
    `insert into suppressions (email_hash, reason, actor)
     select email_hash, reason, actor from json_to_recordset(?::json) as v(email_hash text, reason text, actor text)
     on conflict (email_hash) do nothing
     returning email_hash`,
    [json(rows)],
  );
  return new Set((added as { email_hash: string }[]).map((r) => r.email_hash));
}

export interface NewContact extends Omit<LiveContact, 'id'> {
  email: string;
  email_hash: string;
  optouts: readonly string[];
  /** Whether the address is suppressed (the database sets it from suppressions if this is wrong). */
  suppressed: boolean;
}

const CONTACT_COLUMNS: Column[] = [
  { name: 'id', type: 'uuid' },
  { name: 'email', type: 'text' },
  { name: 'email_key', type: 'text' },
  { name: 'email_hash', type: 'text' },
  { name: 'name', type: 'text' },
  { name: 'phone', type: 'text' },
  { name: 'locale', type: 'text' },
  { name: 'time_zone', type: 'text' },
  { name: 'region', type: 'text' },
  { name: 'account_id', type: 'uuid' },
  { name: 'optouts', type: 'text[]' },
  { name: 'suppressed', type: 'boolean' },
];

/**
 * Inserts the new contacts; returns their ids by canonical address. The ids are made here, time
 * ordered as the column's default makes them (uuidV7), so the rows can go by COPY, which returns
 * nothing.
 */
export async function insertContacts(
  trx: Knex.Transaction,
  rows: NewContact[],
): Promise<Map<string, string>> {
  if (!rows.length) return new Map();
  const now = Date.now();
  const ids = rows.map(() => uuidV7(now));
  await insertRows(
    trx,
    'contacts',
    CONTACT_COLUMNS,
    rows.map((r, i) => [
      ids[i],
      r.email,
      r.email_key,
      r.email_hash,
      r.name,
      r.phone,
      r.locale,
      r.time_zone,
      r.region,
      r.account_id,
      r.optouts,
      r.suppressed,
    ]),
  );
  return new Map(rows.map((r, i) => [r.email_key, ids[i]]));
}

export async function updateContacts(
  trx: Knex.Transaction,
  rows: Omit<LiveContact, 'email_key'>[],
): Promise<void> {
  if (!rows.length) return;
  await trx.raw(
    `update contacts c
        set name = v.name, phone = v.phone, locale = v.locale, time_zone = v.time_zone,
            region = v.region, account_id = v.account_id, updated_at = now()
       from jsonb_to_recordset(?::jsonb) as v(id uuid, name text, phone text, locale text,
            time_zone text, region text, account_id uuid)
      where c.id = v.id`,
    [json(rows)],
  );
}

const PREFERENCE_COLUMNS: Column[] = [
  { name: 'contact_id', type: 'uuid' },
  { name: 'channel', type: 'text' },
  { name: 'topic', type: 'text' },
  { name: 'status', type: 'text' },
];

/** Writes preference rows: new ones inserted, existing ones updated. */
export async function writePreferences(
  trx: Knex.Transaction,
  rows: { contact_id: string; channel: Channel; topic: string | null; status: string; exists: boolean }[],
): Promise<void> {
  const added = rows.filter((r) => !r.exists);
  const changed = rows.filter((r) => r.exists);
  await insertRows(
    trx,
    'preferences',
    PREFERENCE_COLUMNS,
    added.map((r) => [r.contact_id, r.channel, r.topic, r.status]),
  );
  if (changed.length)
    await trx.raw(
      `update preferences p set status = v.status, updated_at = now()
         from jsonb_to_recordset(?::jsonb) as v(contact_id uuid, channel text, topic text, status text)
        where p.contact_id = v.contact_id and p.channel = v.channel and p.topic is not distinct from v.topic`,
      [json(changed)],
    );
}

// ---- the import job's own rows: the job, its stored upload, its checkpoints

/** Every account's id by its external id (a file names accounts by external id). */
export async function accountIdsByExternalId(knex: Knex): Promise<Map<string, string>> {
  const rows: { id: string; external_id: string }[] = await knex('accounts').select('id', 'external_id');
  return new Map(rows.map((a) => [a.external_id, a.id]));
}

export async function uploadSize(knex: Knex, importId: string): Promise<number> {
  const row = await knex('import_uploads')
    .where({ import_id: importId })
    .sum({ n: knex.raw('octet_length(data)') })
    .first();
  return Number(row?.n ?? 0);
}

/** The stored upload, part by part (never the whole file in memory). */
export async function* uploadParts(knex: Knex, importId: string) {
  for (let part = 0; ; part++) {
    const row = await knex('import_uploads').where({ import_id: importId, part }).first('data');
    if (!row) return;
    yield Buffer.from(row.data as Uint8Array);
  }
}

/** Whether a checked job's file is still kept (it is dropped a day after the check). */
export async function uploadKept(knex: Knex, importId: string): Promise<boolean> {
  return Boolean(await knex('import_uploads').where({ import_id: importId }).first('part'));
}

/** A job's stored list (its errors, its preview); none when the column holds no list. */
export function storedList<T>(value: unknown): T[] {
  const parsed = jsonColumn(value);
  return Array.isArray(parsed) ? parsed : [];
}

/** A job starts (or resumes: its first start stays): running, with its file's size. */
export async function markRunning(knex: Knex, id: string, startedAt: Date) {
  await knex('import_jobs')
    .where({ id })
    .update({ status: 'running', started_at: startedAt, file_bytes: await uploadSize(knex, id) });
}

/**
 * Where a run stands: the records before `processed` are written and counted. A promise, not
 * knex's builder: a builder runs its query again for every `then` on it, and the job both
 * watches a checkpoint for failure and awaits it later. As a builder, the watcher's copy of a
 * stale checkpoint could land after the final one and take the file's error with it (CI, stop 42).
 */
export async function saveCheckpoint(
  knex: Knex,
  id: string,
  at: {
    processed: number;
    imported: number;
    failed: number;
    readBytes: number;
    errors: unknown[];
    preview: unknown[];
  },
) {
  await knex('import_jobs')
    .where({ id })
    .update({
      processed_rows: at.processed,
      imported_rows: at.imported,
      failed_rows: at.failed,
      resume_record: at.processed,
      read_bytes: at.readBytes,
      errors: JSON.stringify(at.errors),
      preview: JSON.stringify(at.preview),
    });
}

/** A run ends; the upload goes with it, except a checked file, kept for the import that may follow. */
export async function finishImport(
  knex: Knex,
  id: string,
  status: 'done' | 'failed' | 'checked',
  total: number,
) {
  await knex.transaction(async (trx) => {
    await trx('import_jobs').where({ id }).update({ status, finished_at: new Date(), total_rows: total });
    if (status !== 'checked') await trx('import_uploads').where({ import_id: id }).del();
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
export async function importChecked(knex: Knex, id: string) {
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
