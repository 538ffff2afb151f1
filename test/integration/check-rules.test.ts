// Migration 20261128000300 rewrote three check constraints (the contact's keyed hash and phone,
// the ledger's actor) without counted repeats, for speed. A check that let through what the old
// one refused would let a malformed hash or actor into tables that cannot be corrected later
// (the ledger is append-only); one that refused what the old accepted would break a write. Both
// forms are evaluated here on the same values, by the database, and must agree on every one.
import { expect } from 'chai';
import type { Knex } from 'knex';
import { migrateLatest } from '../../db/migrate.ts';
import { CHECK_RULES } from '../../db/migrations/20261128000300_checks_without_counted_repeats.ts';
import { TEST_HASH_SECRET } from '../support/app.ts';
import { type FreshDb, freshDb } from '../support/db.ts';
import { randomOf } from '../support/seeded.ts';

/** `count` strings over `alphabet` (code points), of lengths around `lengths`. */
function strings(seed: number, count: number, alphabet: string[], lengths: number[]) {
  const rnd = randomOf(seed);
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    const len = lengths[Math.floor(rnd() * lengths.length)];
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    out.push(s);
  }
  return out;
}

const HEX = [...'0123456789abcdef'];
const HASHES = [
  'a'.repeat(64),
  '0123456789abcdef'.repeat(4),
  'a'.repeat(63),
  'a'.repeat(65),
  'A'.repeat(64),
  `${'a'.repeat(63)}g`,
  `${'a'.repeat(63)}\n`,
  `${'a'.repeat(64)}\n`,
  ` ${'a'.repeat(63)}`,
  `${'a'.repeat(62)}é`,
  `${'a'.repeat(63)}é`,
  `${'a'.repeat(63)}٣`,
  '',
  ...strings(1, 600, HEX, [63, 64, 64, 64, 65]),
  ...strings(2, 400, [...HEX, 'A', 'F', 'g', 'x', ' ', '\n', 'é', '-'], [63, 64, 64, 65]),
];

const DIGITS = [...'0123456789'];
const PHONES = [
  '+14155552671',
  '+1234567',
  '+12345678',
  '+123456789012345',
  '+1234567890123456',
  '+02345678',
  '+9999999',
  '+99999999',
  '14155552671',
  '++14155552671',
  '+1415555267a',
  '+1415555 2671',
  '+14155552671\n',
  '+1415555٢671',
  '+１4155552671',
  '',
  '+',
  ...strings(3, 600, DIGITS, [6, 7, 8, 13, 14, 15, 16]).map((d) => `+${d}`),
  ...strings(4, 400, [...DIGITS, '+', ' ', '-', 'x', '٣'], [7, 8, 9, 15, 16, 17]),
];

const ACTORS = [
  'recipient',
  'system',
  'provider:sendgrid',
  'provider:sms',
  'provider:twilio',
  'provider:',
  'staff:ann@example.com',
  'staff:',
  'staff:a',
  'staff: a',
  'staff:a b',
  'staff:a\nb',
  'staff:\n',
  'apikey:3f9a',
  'apikey:',
  'import:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  'import:',
  'import:é',
  'Import:x',
  'recipient ',
  ' recipient',
  'system:',
  'staffx:a',
  'importer:a',
  'recipientx',
  '',
  ...strings(
    5,
    1500,
    [
      'staff:',
      'apikey:',
      'import:',
      'provider:',
      'sendgrid',
      'sms',
      'recipient',
      'system',
      'a',
      ' ',
      '\n',
      ':',
      'é',
    ],
    [1, 2, 2, 3, 4],
  ),
];

describe('the check constraints written without counted repeats (migration 20261128000300)', () => {
  let fresh: FreshDb;
  before(async () => {
    fresh = await freshDb();
    await migrateLatest(fresh.db.knex, { hashSecret: Buffer.from(TEST_HASH_SECRET) });
  });
  after(() => fresh?.drop());

  const cases: [string, keyof typeof CHECK_RULES, string, string[]][] = [
    ['the keyed hash', 'emailHash', 'email_hash', HASHES],
    ['the phone number', 'phone', 'phone', PHONES],
    ["the ledger's actor", 'actor', 'actor', ACTORS],
  ];
  for (const [what, rule, column, values] of cases) {
    it(`accepts and refuses ${what} exactly as the old rule did`, async () => {
      const { rows } = await fresh.db.knex.raw(
        `select ${column} as v, (${CHECK_RULES[rule].old}) as old, (${CHECK_RULES[rule].new}) as new
           from unnest(?::text[]) as t(${column})`,
        [[...values, null] as unknown as Knex.Value],
      );
      expect(rows).to.have.length(values.length + 1);
      const differ = rows.filter((r: { old: boolean | null; new: boolean | null }) => r.old !== r.new);
      expect(differ, 'values the two rules answer differently').to.deep.equal([]);
      // the values are not all of one kind: both answers occur
      const accepted = rows.filter((r: { old: boolean | null }) => r.old === true).length;
      const refused = rows.filter((r: { old: boolean | null }) => r.old === false).length;
      expect(accepted, 'values the rule accepts').to.be.greaterThan(20);
      expect(refused, 'values the rule refuses').to.be.greaterThan(20);
    });
  }

  it('is what the tables enforce, under the same names', async () => {
    const k = fresh.db.knex;
    const violation = async (q: PromiseLike<unknown>) => {
      try {
        await q;
      } catch (err) {
        return (err as { constraint?: string }).constraint;
      }
      return undefined;
    };
    expect(
      await violation(k('contacts').insert({ email: 'hash@example.com', email_hash: 'A'.repeat(64) })),
    ).to.equal('contacts_email_hash_check');
    expect(
      await violation(
        k('contacts').insert({ email: 'phone@example.com', email_hash: 'a'.repeat(64), phone: '+123456' }),
      ),
    ).to.equal('contacts_phone_check');
    const [{ id }] = await k('contacts')
      .insert({ email: 'ok@example.com', email_hash: 'b'.repeat(64), phone: '+12345678' })
      .returning('id');
    const event = (actor: string) =>
      k('events').insert({
        occurred_at: new Date(),
        chain: `contact:${id}`,
        contact_id: id,
        type: 'contact.created',
        actor,
        hash: 'c'.repeat(64),
      });
    expect(await violation(event('staff:a b'))).to.equal('events_actor_check');
    expect(await violation(event('import:'))).to.equal('events_actor_check');
    expect(await violation(event('import:0193a1b2'))).to.equal(undefined);
    const { rows } = await k.raw(
      `select conname, pg_get_constraintdef(oid) as def from pg_constraint
        where conname in ('contacts_email_hash_check', 'contacts_phone_check', 'events_actor_check')
        order by conname`,
    );
    expect(rows.map((r: { conname: string }) => r.conname)).to.deep.equal([
      'contacts_email_hash_check',
      'contacts_phone_check',
      'events_actor_check',
    ]);
    for (const r of rows) expect(r.def, r.conname).not.to.match(/\{\d/);
  });
});
