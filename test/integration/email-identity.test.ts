// One identity per mailbox (SPEC "Input hygiene"): two spellings of an address are one contact
// everywhere, and a database made before that rule is repaired by its migration.
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { migrateLatest, migrateTo } from '../../db/migrate.ts';
import { createApp } from '../../server/app.ts';
import { keyedHash } from '../../server/keyed-hash.ts';
import { createLedger } from '../../server/ledger/ledger.ts';
import { apiKeyFor, TEST_HASH_SECRET, type TestApp, testApp, testConfig, uniqueId } from '../support/app.ts';
import { type FreshDb, freshDb } from '../support/db.ts';

const secret = Buffer.from(TEST_HASH_SECRET);

describe('one identity per mailbox', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t)).auth;
  });
  const check = async (app: TestApp['app'], key: string, recipient: string) =>
    (
      await request(app)
        .post('/api/v1/send-permission')
        .set('Authorization', key)
        .send({ channel: 'email', recipient, topic: 'newsletter' })
        .expect(200)
    ).body.reason;

  it('finds a contact by the very string it was created with, Greek capitals included', async () => {
    const tag = uniqueId('g').replace(/\W/g, '');
    const email = `ΟΔΥΣ.${tag}@example.com`;
    await request(t.app)
      .put(`/api/v1/contacts/${encodeURIComponent(email)}`)
      .set('Authorization', auth)
      .send({})
      .expect(201);
    expect(await check(t.app, auth, email)).to.equal('subscribed');
    await request(t.app)
      .get(`/api/v1/contacts/${encodeURIComponent(email)}`)
      .set('Authorization', auth)
      .expect(200);
  });

  it('treats NFC and NFD spellings as one contact: one row, and an opt-out under one holds for the other', async () => {
    const tag = uniqueId('n').replace(/\W/g, '');
    const nfc = `jos\u00e9.${tag}@example.com`;
    const nfd = `JOSE\u0301.${tag}@example.com`;
    await request(t.app)
      .put(`/api/v1/contacts/${encodeURIComponent(nfc)}`)
      .set('Authorization', auth)
      .send({})
      .expect(201);
    await request(t.app)
      .put(`/api/v1/contacts/${encodeURIComponent(nfd)}`)
      .set('Authorization', auth)
      .send({ name: 'José' })
      .expect(200);
    await request(t.app)
      .post(`/api/v1/contacts/${encodeURIComponent(nfd)}/unsubscribe`)
      .set('Authorization', auth)
      .send({ topic: 'newsletter' })
      .expect(200);
    expect(await check(t.app, auth, nfc)).to.equal('unsubscribed_topic');
    const send = await request(t.app)
      .post('/api/v1/messages')
      .set('Authorization', auth)
      .send({ to: nfc, topic: 'newsletter', subject: 'News', text: 'Hi {{unsubscribe_url}}' })
      .expect(422);
    expect(send.body.reason).to.equal('unsubscribed_topic');
  });

  it('keeps an address erased under its old (pre-canonical) hash suppressed, in any spelling', async () => {
    const tag = uniqueId('e').replace(/\W/g, '');
    const nfd = `rene\u0301.${tag}@example.com`;
    // what erasure stored before the canonical form: the hash of the lower-cased NFD spelling
    const oldHash = createHmac('sha256', secret).update(`email:${nfd.toLowerCase()}`).digest('hex');
    await t.db.knex('suppressions').insert({ email_hash: oldHash, reason: 'erasure', actor: 'system' });
    expect(await check(t.app, auth, `ren\u00e9.${tag}@example.com`)).to.equal('suppressed');
    expect(await check(t.app, auth, nfd)).to.equal('suppressed');
  });

  it('gives a contact written without its key one from its address, and leaves a given key alone', async () => {
    // contacts_default_email_key: the key of an address written without one (SQL by hand).
    const tag = uniqueId('k').replace(/\W/g, '');
    const k = t.db.knex;
    const hash = (s: string) => createHmac('sha256', secret).update(s).digest('hex');
    const [bare] = await k('contacts')
      .insert({ email: `  Raw.${tag}@Example.COM `, email_hash: hash(`raw${tag}`) })
      .returning(['id', 'email_key']);
    expect(bare.email_key).to.equal(`raw.${tag}@example.com`);
    const [given] = await k('contacts')
      .insert({
        email: `Given.${tag}@example.com`,
        email_key: `given.${tag}@example.com`,
        email_hash: hash(`g${tag}`),
      })
      .returning(['id', 'email_key']);
    expect(given.email_key).to.equal(`given.${tag}@example.com`);
    // An address changed with its key cleared gets a key from the new address.
    const [moved] = await k('contacts')
      .where({ id: bare.id })
      .update({ email: `Moved.${tag}@example.com`, email_key: null })
      .returning(['email_key']);
    expect(moved.email_key).to.equal(`moved.${tag}@example.com`);
    // An address changed with its key left alone keeps the key it has (the writer's business).
    const [kept] = await k('contacts')
      .where({ id: bare.id })
      .update({ email: `Else.${tag}@example.com` })
      .returning(['email_key']);
    expect(kept.email_key).to.equal(`moved.${tag}@example.com`);
    // The function is called only for a row without a key: the test is the trigger's WHEN.
    const { rows } = await k.raw(
      "select pg_get_triggerdef(oid) as def from pg_trigger where tgname = 'contacts_default_email_key'",
    );
    expect(rows[0].def).to.match(
      /WHEN \(\(new\.email_key IS NULL\)\) EXECUTE FUNCTION contacts_default_email_key\(\)$/,
    );
  });

  describe('the migration of an existing database', () => {
    let fresh: FreshDb;
    before(async function () {
      this.timeout(60_000);
      fresh = await freshDb();
    });
    after(() => fresh?.drop());

    it('merges twins with opt-outs and suppressions winning, on the ledger, and keeps hashes honoured', async () => {
      const k = fresh.db.knex;
      await migrateTo(k, '20261126000100_login_throttle');
      const oldHash = (e: string) =>
        createHmac('sha256', secret).update(`email:${e.trim().toLowerCase()}`).digest('hex');
      // twins the old lower(email) index let in: NFC and NFD spellings of one mailbox
      const nfc = 'zoë@example.com';
      const nfd = 'zoe\u0308@example.com';
      const [older] = await k('contacts')
        .insert({ email: nfc, email_hash: oldHash(nfc), created_at: new Date('2026-01-01T00:00:00Z') })
        .returning('id');
      const [twin] = await k('contacts')
        .insert({ email: nfd, email_hash: oldHash(nfd), created_at: new Date('2026-02-01T00:00:00Z') })
        .returning('id');
      await k('preferences').insert({
        contact_id: twin.id,
        channel: 'email',
        topic: 'newsletter',
        status: 'unsubscribed',
      });
      await k('preferences').insert({
        contact_id: twin.id,
        channel: 'email',
        topic: null,
        status: 'unsubscribed',
      });
      // a live non-twin written in NFD, suppressed under its old hash
      const lone = 'bjo\u0308rk@example.com';
      await k('contacts').insert({ email: lone, email_hash: oldHash(lone) });
      await k('suppressions').insert({
        email_hash: oldHash(lone),
        reason: 'bounce',
        actor: 'provider:sendgrid',
      });
      // an ASCII contact, untouched
      await k('contacts').insert({ email: 'Plain@Example.com', email_hash: oldHash('Plain@Example.com') });

      await migrateLatest(k, { hashSecret: secret });

      const live = await k('contacts')
        .whereNull('erased_at')
        .orderBy('created_at')
        .select('id', 'email_key', 'email_hash');
      expect(live.map((c) => c.email_key).sort()).to.deep.equal(
        ['björk@example.com', 'plain@example.com', 'zoë@example.com'].map((e) => e.normalize('NFC')).sort(),
      );
      expect(live.find((c) => c.id === older.id)?.email_hash).to.equal(keyedHash(secret, 'email', nfc));
      const merged = await k('contacts').where({ id: twin.id }).first();
      expect(merged.merged_into).to.equal(older.id);
      expect(merged.erased_at).to.not.equal(null);
      expect(merged.email).to.match(/^[0-9a-f]{64}$/);
      const prefs = await k('preferences')
        .where({ contact_id: older.id })
        .orderBy('topic')
        .select('topic', 'status');
      expect(prefs).to.deep.equal([
        { topic: 'newsletter', status: 'unsubscribed' },
        { topic: null, status: 'unsubscribed' },
      ]);
      const events = await k('events').whereIn('contact_id', [older.id, twin.id]).orderBy('id');
      expect(
        events.map((e) => [e.contact_id === older.id ? 'survivor' : 'twin', e.type, e.actor]),
      ).to.deep.equal([
        ['survivor', 'preference.changed', 'system'],
        ['survivor', 'preference.changed', 'system'],
        ['twin', 'contact.merged', 'system'],
        ['survivor', 'contact.merged', 'system'],
      ]);
      expect((await createLedger(secret).verify(k)).ok).to.equal(true);

      // the app on the migrated database: every spelling finds the survivor, opted out;
      // the lone NFD contact is still suppressed, now under its canonical hash
      const app = createApp({ config: testConfig(), db: fresh.db });
      const key = (await apiKeyFor({ app, ctx: app.locals.ctx, db: fresh.db }, ['check'])).auth;
      expect(await check(app, key, nfd)).to.equal('unsubscribed_all');
      expect(await check(app, key, nfc.toUpperCase())).to.equal('unsubscribed_all');
      expect(await check(app, key, 'bj\u00f6rk@example.com')).to.equal('suppressed');
      expect(await check(app, key, 'plain@example.com')).to.equal('subscribed');
    });
  });
});
