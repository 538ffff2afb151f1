import type { Knex } from 'knex';
import { revokeAllConsents } from '../../server/consent/service.ts';
import { canonicalEmail } from '../../server/contacts/rules.ts';
import type { Core } from '../../server/core.ts';
import { keyedHash, legacyEmailHashes } from '../../server/keyed-hash.ts';
import { createLedger } from '../../server/ledger/ledger.ts';
import { applyPreferenceChanges, type PreferenceChange } from '../../server/preferences/service.ts';
import { runStatements } from '../migrate.ts';

// One identity per mailbox. Until now the unique index and the lookups used PostgreSQL's
// lower(email) while the check and the keyed hash used JavaScript's toLowerCase(), and neither
// normalised Unicode: the two disagree on some letters (Greek final sigma, Turkish dotted I) and
// NFC/NFD spell one address two ways, so one mailbox could be two contacts ("twins"), and a
// contact could be unknown when checked with the very string it was created with.
// From here the identity is contacts.email_key = canonicalEmail(email), computed by the app.
//
// On a live database, in one transaction:
// 1. every contact gets its key; an address not in plain ASCII gets its keyed hash recomputed
//    over the canonical form, and a suppression under its old hash is copied to the new one
//    (erased and suppressed people stay suppressed; the check also honours old hashes);
// 2. twins (live contacts with one key) are merged into the oldest: every opt-out of a twin is
//    applied to the survivor on the ledger (opt-outs win), suppressions already follow the
//    shared hash, the twin's phone consents are revoked on the ledger (a number must be
//    consented by the contact who holds it), and the twin steps aside like an erased row
//    (merged_into names the survivor, so its old links lead there);
// 3. the unique index moves to email_key. Old app processes still running during a deploy
//    insert without a key: a trigger fills it with lower(btrim(email)), which is the canonical
//    form for every ASCII address.
// The keyed hash needs HASH_SECRET: migrateLatest passes it as knex userParams.

const ASCII = /^[\x20-\x7e]*$/;
const BATCH = 5000;

export async function up(knex: Knex) {
  await runStatements(knex, [
    'alter table contacts add column email_key text',
    'alter table contacts add column merged_into uuid references contacts(id)',
  ]);
  const secret = (knex.userParams as { hashSecret?: Buffer } | undefined)?.hashSecret;
  const needSecret = () => {
    if (!secret) throw new Error('This migration re-keys non-ASCII addresses and needs HASH_SECRET.');
    return secret;
  };

  // 1. keys and hashes, in batches by id
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const rows: { id: string; email: string; email_hash: string; erased_at: Date | null }[] = await knex(
      'contacts',
    )
      .select('id', 'email', 'email_hash', 'erased_at')
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH);
    if (!rows.length) break;
    const ids: string[] = [];
    const keys: string[] = [];
    const hashes: string[] = [];
    for (const r of rows) {
      let key = r.email; // an erased row's email is already its keyed hash
      let hash = r.email_hash;
      if (!r.erased_at) {
        key = canonicalEmail(r.email);
        if (!ASCII.test(r.email)) {
          hash = keyedHash(needSecret(), 'email', r.email);
          if (hash !== r.email_hash) {
            await knex.raw(
              `insert into suppressions (email_hash, reason, actor, created_at)
               select ?, reason, actor, created_at from suppressions
                where email_hash = any(?::text[]) order by created_at limit 1
               on conflict (email_hash) do nothing`,
              [hash, [r.email_hash, ...legacyEmailHashes(needSecret(), r.email)]],
            );
          }
        }
      }
      ids.push(r.id);
      keys.push(key);
      hashes.push(hash);
    }
    await knex.raw(
      `update contacts c set email_key = v.k, email_hash = v.h
         from unnest(?::uuid[], ?::text[], ?::text[]) as v(id, k, h)
        where c.id = v.id and (c.email_key is distinct from v.k or c.email_hash <> v.h)`,
      [ids, keys, hashes],
    );
    after = rows[rows.length - 1].id;
  }

  // 2. twins
  const { rows: groups } = (await knex.raw(
    `select email_key, array_agg(id order by created_at, id) as ids
       from contacts where erased_at is null
      group by email_key having count(*) > 1`,
  )) as { rows: { email_key: string; ids: string[] }[] };
  if (groups.length) {
    const hashSecret = needSecret();
    const core = { config: { hashSecret }, ledger: createLedger(hashSecret) } as unknown as Core;
    const system = { actor: 'system' as const };
    const trx = knex as Knex.Transaction;
    for (const g of groups) {
      const [survivor, ...twins] = typeof g.ids === 'string' ? parsePgArray(g.ids) : g.ids;
      for (const twin of twins) {
        const optOuts: PreferenceChange[] = (
          await knex('preferences')
            .where({ contact_id: twin, status: 'unsubscribed' })
            .select('channel', 'topic')
        ).map((p) => ({ channel: p.channel, topic: p.topic, status: 'unsubscribed' as const }));
        await applyPreferenceChanges(core, trx, system, survivor, optOuts, {
          via: 'merge',
          mergedFrom: twin,
        });
        await revokeAllConsents(core, trx, system, twin, 'merged');
        const row = await knex('contacts').where({ id: twin }).first('email_hash');
        await knex('contacts').where({ id: twin }).update({
          email: row.email_hash,
          email_key: row.email_hash,
          name: null,
          phone: null,
          locale: null,
          time_zone: null,
          erased_at: new Date(),
          merged_into: survivor,
          updated_at: new Date(),
        });
        await core.ledger.append(trx, system, {
          type: 'contact.merged',
          contactId: twin,
          data: { into: survivor },
        });
        await core.ledger.append(trx, system, {
          type: 'contact.merged',
          contactId: survivor,
          data: { from: twin },
        });
      }
    }
  }

  // 3. the index
  await runStatements(knex, [
    `create function contacts_default_email_key() returns trigger language plpgsql as $$
     begin
       if new.email_key is null then new.email_key := lower(btrim(new.email)); end if;
       return new;
     end $$`,
    `create trigger contacts_default_email_key before insert or update of email on contacts
       for each row execute function contacts_default_email_key()`,
    'alter table contacts alter column email_key set not null',
    'create unique index contacts_email_key on contacts (email_key) where erased_at is null',
    'drop index contacts_email_lower',
  ]);
}

/** PGlite may hand back a uuid[] as its text form. */
function parsePgArray(text: string): string[] {
  return text
    .replace(/^\{|\}$/g, '')
    .split(',')
    .filter(Boolean);
}
