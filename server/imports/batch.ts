// A batch of import rows written set-based: one transaction and a handful of statements for
// thousands of rows, with the same outcome row by row as the one-row path (upsertContactIn,
// applyPreferenceChanges, suppressIn): the same contact fields, the same preference rows, the
// same suppressions and the same ledger events in the same order, each contact's chain
// continued (or, for a new contact, begun). A row the batch cannot take (a number held by
// another contact, another account's contact) is reported and writes nothing; anything the
// batch did not foresee (a constraint, a concurrent writer) rolls the whole batch back and the
// caller writes those rows one at a time, so a bad row still changes nothing.
import type { Knex } from 'knex';
import { type ContactPatch, canonicalEmail, patchedFields } from '../contacts/service.ts';
import type { Core } from '../core.ts';
import type { Channel } from '../domain.ts';
import { keyedHash } from '../keyed-hash.ts';
import type { EventInput, Origin } from '../ledger/ledger.ts';
import {
  insertContacts,
  insertSuppressions,
  type LiveContact,
  lockContactsByKey,
  type NewContact,
  phoneHolders,
  preferencesOf,
  updateContacts,
  writePreferences,
} from './queries.ts';

export interface BulkRow {
  line: number;
  email: string;
  patch: ContactPatch;
  unsubscribed: { channel: Channel; topic: string | null; status: 'subscribed' | 'unsubscribed' }[];
  suppressed: string | null;
}

export interface BulkResult {
  imported: number;
  /** Rows refused, by line; nothing of them was written. */
  refused: { line: number; message: string }[];
}

const NO_OPTOUTS: readonly string[] = Object.freeze([]);
/** A row that opts out of nothing changes no preference (most rows of a migration). */
const NO_CHANGES = Object.freeze({ done: Object.freeze([]), all: Object.freeze([]) });

const FIELDS = ['name', 'phone', 'locale', 'time_zone', 'region', 'account_id'] as const;
type Fields = Record<(typeof FIELDS)[number], string | null>;

/**
 * contacts.optouts as the preferences trigger writes it ("channel:topic", by channel then topic,
 * "*" last), so a new contact is inserted with it and the trigger, which stays the authority,
 * finds nothing to rewrite (were they ever to differ, the trigger's list is the one kept).
 */
function optoutsOf(
  prefs: readonly { channel: string; topic: string | null; status: string }[],
): readonly string[] {
  if (!prefs.length) return NO_OPTOUTS;
  return prefs
    .filter((p) => p.status === 'unsubscribed')
    .sort((a, b) =>
      a.channel !== b.channel
        ? a.channel < b.channel
          ? -1
          : 1
        : a.topic === b.topic
          ? 0
          : a.topic === null
            ? 1
            : b.topic === null
              ? -1
              : a.topic < b.topic
                ? -1
                : 1,
    )
    .map((p) => `${p.channel}:${p.topic ?? '*'}`);
}

/**
 * Writes one batch of distinct addresses in one transaction. `accounts` maps an account's
 * external id to its id; `onlyAccountId` (a customer administrator's import) refuses another
 * account's contact. Throws, having written nothing, when the batch meets what it did not foresee.
 */
export async function importBatch(
  core: Core,
  origin: Origin,
  rows: BulkRow[],
  opts: { accounts: Map<string, string>; onlyAccountId: string | null },
): Promise<BulkResult> {
  const secret = core.config.hashSecret;
  return core.db.knex.transaction(async (trx: Knex.Transaction) => {
    const keys = rows.map((r) => canonicalEmail(r.email));
    const existing = new Map<string, LiveContact>();
    for (const c of await lockContactsByKey(trx, keys)) existing.set(c.email_key, c);
    const holders = await phoneHolders(trx, [
      ...new Set(rows.flatMap((r) => (r.patch.phone ? [r.patch.phone] : []))),
    ]);
    const refused: BulkResult['refused'] = [];
    const claimed = new Map<string, string>();
    const plans: {
      row: BulkRow;
      key: string;
      before: LiveContact | undefined;
      next: Fields;
      changed: string[];
    }[] = [];
    rows.forEach((row, i) => {
      const key = keys[i];
      const before = existing.get(key);
      if (opts.onlyAccountId && before && before.account_id !== opts.onlyAccountId) {
        refused.push({
          line: row.line,
          message: 'email: this address is a contact of another account; not imported',
        });
        return;
      }
      let accountId = before?.account_id ?? null;
      const ext = row.patch.accountExternalId;
      if (ext !== undefined) {
        accountId = ext === null ? null : (opts.accounts.get(ext) ?? null);
        if (ext !== null && !accountId) {
          refused.push({ line: row.line, message: `account: no account "${ext}"; not imported` });
          return;
        }
      }
      const phone = row.patch.phone;
      if (phone) {
        const holder = holders.get(phone);
        const other = claimed.get(phone);
        if ((holder && holder !== before?.id) || (other && other !== key)) {
          refused.push({
            line: row.line,
            message:
              'phone: this number already belongs to another contact (a number belongs to one contact only); not imported',
          });
          return;
        }
        claimed.set(phone, key);
      }
      const next: Fields = patchedFields(row.patch, before, accountId);
      const changed = before ? FIELDS.filter((f) => next[f] !== before[f]) : [];
      plans.push({ row, key, before, next, changed });
    });

    // Preferences: a new contact has none (subscribed by default); a known one's are read.
    const current = new Map<string, { channel: Channel; topic: string | null; status: string }[]>();
    for (const p of await preferencesOf(
      trx,
      plans
        .filter((pl) => pl.before && pl.row.unsubscribed.length)
        .map((pl) => (pl.before as LiveContact).id),
    )) {
      const list = current.get(p.contact_id) ?? [];
      list.push(p);
      current.set(p.contact_id, list);
    }
    const prefChanges = plans.map((pl) => {
      if (!pl.row.unsubscribed.length) return NO_CHANGES;
      const have = pl.before ? [...(current.get(pl.before.id) ?? [])] : [];
      const done: {
        channel: Channel;
        topic: string | null;
        status: string;
        from: string;
        exists: boolean;
      }[] = [];
      for (const c of pl.row.unsubscribed) {
        const at = have.find((h) => h.channel === c.channel && h.topic === c.topic);
        const from = at?.status ?? 'subscribed';
        if (from === c.status) continue;
        const already = done.find((d) => d.channel === c.channel && d.topic === c.topic);
        if (already) already.status = c.status;
        else done.push({ ...c, from, exists: Boolean(at) });
        if (at) at.status = c.status;
        else have.push({ channel: c.channel, topic: c.topic, status: c.status });
      }
      return { done, all: have };
    });

    // Suppressions first: a known contact is marked by the suppressions trigger; a new one is
    // written suppressed if its row suppresses it, and the contacts' statement trigger marks any
    // other new one whose address was suppressed before (an erased person, an earlier bounce).
    const hashes = plans.map((pl) => keyedHash(secret, 'email', pl.row.email));
    const added = await insertSuppressions(
      trx,
      plans.flatMap((pl, i) =>
        pl.row.suppressed ? [{ email_hash: hashes[i], reason: pl.row.suppressed, actor: origin.actor }] : [],
      ),
    );

    const fresh: NewContact[] = [];
    plans.forEach((pl, i) => {
      if (!pl.before)
        fresh.push({
          email: pl.row.email,
          email_key: pl.key,
          email_hash: hashes[i],
          ...pl.next,
          optouts: optoutsOf(prefChanges[i].all),
          suppressed: Boolean(pl.row.suppressed),
        });
    });
    const ids = await insertContacts(trx, fresh);
    await updateContacts(
      trx,
      plans
        .filter((pl) => pl.before && pl.changed.length)
        .map((pl) => ({ id: (pl.before as LiveContact).id, ...pl.next })),
    );
    const idOf = (pl: (typeof plans)[number]) => pl.before?.id ?? (ids.get(pl.key) as string);
    await writePreferences(
      trx,
      plans.flatMap((pl, i) =>
        prefChanges[i].done.map((d) => ({
          contact_id: idOf(pl),
          channel: d.channel,
          topic: d.topic,
          status: d.status,
          exists: d.exists,
        })),
      ),
    );

    const events: EventInput[] = [];
    plans.forEach((pl, i) => {
      const contactId = idOf(pl);
      const phoneHash: Record<string, string> = pl.next.phone
        ? { phoneHash: keyedHash(secret, 'phone', pl.next.phone) }
        : {};
      if (!pl.before)
        events.push({
          type: 'contact.created',
          contactId,
          accountId: pl.next.account_id,
          data: { fields: FIELDS.filter((f) => pl.next[f] !== null), ...phoneHash },
        });
      else if (pl.changed.length)
        events.push({
          type: 'contact.updated',
          contactId,
          accountId: pl.next.account_id,
          data: { fields: pl.changed, ...(pl.changed.includes('phone') ? phoneHash : {}) },
        });
      for (const d of prefChanges[i].done)
        events.push({
          type: 'preference.changed',
          contactId,
          channel: d.channel,
          topic: d.topic ?? '*',
          oldValue: d.from,
          newValue: d.status,
          data: { via: 'import' },
        });
      if (pl.row.suppressed && added.has(hashes[i]))
        events.push({
          type: 'suppression.added',
          contactId,
          channel: 'email',
          newValue: pl.row.suppressed,
          data: { emailHash: hashes[i] },
        });
    });
    await core.ledger.appendMany(trx, origin, events, new Set(ids.values()));
    return { imported: plans.length, refused };
  });
}
