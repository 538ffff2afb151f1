// The bulk import's statements: each takes a whole batch as one JSON parameter (the same on pg
// and PGlite, and no array-literal quoting), so a batch of thousands of rows costs a handful of
// round trips instead of several per row.
import type { Knex } from 'knex';
import type { ContactRow } from '../contacts/service.ts';
import type { Channel } from '../domain.ts';

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
  optouts: string[];
}

/** Inserts the new contacts; returns their ids by canonical address. */
export async function insertContacts(
  trx: Knex.Transaction,
  rows: NewContact[],
): Promise<Map<string, string>> {
  if (!rows.length) return new Map();
  const { rows: made } = await trx.raw(
    `insert into contacts (email, email_key, email_hash, name, phone, locale, time_zone, region, account_id, optouts)
     select email, email_key, email_hash, name, phone, locale, time_zone, region, account_id, optouts
       from jsonb_to_recordset(?::jsonb) as v(email text, email_key text, email_hash text, name text,
            phone text, locale text, time_zone text, region text, account_id uuid, optouts text[])
     returning id, email_key`,
    [json(rows)],
  );
  return new Map((made as { id: string; email_key: string }[]).map((r) => [r.email_key, r.id]));
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

/** Writes preference rows: new ones inserted, existing ones updated. */
export async function writePreferences(
  trx: Knex.Transaction,
  rows: { contact_id: string; channel: Channel; topic: string | null; status: string; exists: boolean }[],
): Promise<void> {
  const added = rows.filter((r) => !r.exists);
  const changed = rows.filter((r) => r.exists);
  if (added.length)
    await trx.raw(
      `insert into preferences (contact_id, channel, topic, status)
       select contact_id, channel, topic, status
         from jsonb_to_recordset(?::jsonb) as v(contact_id uuid, channel text, topic text, status text)`,
      [json(added)],
    );
  if (changed.length)
    await trx.raw(
      `update preferences p set status = v.status, updated_at = now()
         from jsonb_to_recordset(?::jsonb) as v(contact_id uuid, channel text, topic text, status text)
        where p.contact_id = v.contact_id and p.channel = v.channel and p.topic is not distinct from v.topic`,
      [json(changed)],
    );
}
