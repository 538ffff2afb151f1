import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { upsertContact } from '../../server/contacts/service.ts';
import { keyedHash } from '../../server/keyed-hash.ts';
import { apiKeyFor, type TestApp, testApp } from '../support/app.ts';

// Copied from ../shared/fixtures so a clean checkout (CI) has it.
const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/sendgrid-events.json');
const system = { actor: 'system' as const };

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // SendGrid shows the verification key as base64 DER (SubjectPublicKeyInfo), no PEM armour.
  return { publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), privateKey };
}

/** SendGrid's signature: ECDSA P-256 / SHA-256 over the timestamp followed by the raw body. */
function signed(body: string, privateKey: KeyObject, timestamp = Math.floor(Date.now() / 1000)) {
  const ts = String(timestamp);
  const signature = sign('sha256', Buffer.concat([Buffer.from(ts), Buffer.from(body)]), privateKey).toString(
    'base64',
  );
  return {
    'X-Twilio-Email-Event-Webhook-Signature': signature,
    'X-Twilio-Email-Event-Webhook-Timestamp': ts,
    'Content-Type': 'application/json',
  };
}

describe('POST /webhooks/sendgrid', () => {
  const keys = keyPair();
  let t: TestApp;
  let checkAuth: string;
  let sendAuth: string;
  before(async () => {
    t = await testApp({ env: { SENDGRID_WEBHOOK_PUBLIC_KEY: keys.publicKey } });
    checkAuth = (await apiKeyFor(t, ['check'])).auth;
    sendAuth = (await apiKeyFor(t, ['send'])).auth;
  });
  const post = (body: string, headers: Record<string, string>) =>
    request(t.app).post('/webhooks/sendgrid').set(headers).send(body);
  const check = async (recipient: string, topic: string) =>
    (
      await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', checkAuth)
        .send({ channel: 'email', recipient, topic })
        .expect(200)
    ).body.reason;

  /** The fixture with its people and event ids made unique to this run (the bytes stay SendGrid's shape). */
  function fixture() {
    const tag = randomBytes(4).toString('hex');
    const text = readFileSync(FIXTURE, 'utf8')
      .replace(/\b(ann|bob|carol|dave|erin|frank)@example\.(com|net|org)\b/g, `$1.${tag}@example.$2`)
      .replace(/"sg_event_id": "([^"]+)"/g, `"sg_event_id": "$1-${tag}"`);
    const email = (name: string, tld = 'com') => `${name}.${tag}@example.${tld}`;
    return { text, email, tag };
  }

  it('applies a real batch: bounce and spam report suppress, unsubscribes opt out, statuses move forward', async () => {
    const f = fixture();
    const people = ['ann', 'dave', 'erin', 'frank'].map((n) => f.email(n)).concat(f.email('bob', 'net'));
    const ids: Record<string, string> = {};
    for (const p of people) ids[p] = (await upsertContact(t.ctx, system, p, {})).contact.id;
    // ann's events refer to a message we really sent
    const sent = await request(t.app)
      .post('/api/v1/messages')
      .set('Authorization', sendAuth)
      .send({ to: f.email('ann'), topic: 'newsletter', subject: 'News', text: 'Bye: {{unsubscribe_url}}' })
      .expect(202);
    const body = f.text.replaceAll('7d1f0c9e-2f5b-4b7e-9c53-1f1d0f6f0a11', sent.body.id);

    const res = await post(body, signed(body, keys.privateKey)).expect(200);
    expect(res.body).to.deep.equal({
      received: 12,
      applied: 12,
      duplicate: 0,
      malformed: 0,
      failed: 0,
      pending: 0,
    });

    expect(await check(f.email('bob', 'net'), 'offers')).to.equal('suppressed');
    expect(await check(f.email('dave'), 'newsletter')).to.equal('suppressed');
    expect(await check(f.email('dave'), 'account')).to.equal('operational');
    // `unsubscribe` is SendGrid's global opt-out: SendGrid will drop every later message, so
    // every marketing topic reads as left, not only the one the message was about.
    expect(await check(f.email('erin'), 'newsletter')).to.equal('unsubscribed_all');
    expect(await check(f.email('erin'), 'offers')).to.equal('unsubscribed_all');
    expect(await check(f.email('frank'), 'product-updates')).to.equal('subscribed'); // unsubscribed, then resubscribed
    expect(await check(f.email('ann'), 'newsletter')).to.equal('subscribed');
    // "blocked" is temporary: no suppression for that address
    const blockedHash = keyedHash(t.ctx.config.hashSecret, 'email', 'noemail@this.does.not.exist.tld');
    expect(await t.db.knex('suppressions').where({ email_hash: blockedHash })).to.deep.equal([]);
    const bobHash = keyedHash(t.ctx.config.hashSecret, 'email', f.email('bob', 'net'));
    expect(await t.db.knex('suppressions').where({ email_hash: bobHash }).first()).to.include({
      reason: 'bounce',
    });

    const msg = await request(t.app).get(`/api/v1/messages/${sent.body.id}`).set('Authorization', sendAuth);
    expect(msg.body.status).to.equal('clicked');

    const frank = await t.db
      .knex('events')
      .where({ contact_id: ids[f.email('frank')] })
      .orderBy('id');
    expect(
      frank.filter((e) => e.type === 'preference.changed').map((e) => [e.topic, e.new_value, e.actor]),
    ).to.deep.equal([
      ['product-updates', 'unsubscribed', 'provider:sendgrid'],
      ['product-updates', 'subscribed', 'provider:sendgrid'],
    ]);
    const dave = await t.db
      .knex('events')
      .where({ contact_id: ids[f.email('dave')], type: 'suppression.added' });
    expect(dave.map((e) => [e.new_value, e.actor])).to.deep.equal([['spam_complaint', 'provider:sendgrid']]);

    // a replay of the same events (even freshly signed) changes nothing
    const before = await t.db.knex('events').count({ n: '*' });
    const replay = await post(body, signed(body, keys.privateKey)).expect(200);
    expect(replay.body).to.include({ applied: 0, duplicate: 12 });
    const after = await t.db.knex('events').count({ n: '*' });
    expect(Number(after[0].n)).to.equal(Number(before[0].n));
  });

  it('refuses a tampered body, an old timestamp, a wrong key and missing headers with 403', async () => {
    const f = fixture();
    const body = f.text;
    const headers = signed(body, keys.privateKey);
    await post(body.replace('"delivered"', '"dropped"'), headers).expect(403);
    await post(`${body} `, headers).expect(403);
    await post(body, signed(body, keys.privateKey, Math.floor(Date.now() / 1000) - 301)).expect(403);
    await post(body, signed(body, keyPair().privateKey)).expect(403);
    await post(body, { 'Content-Type': 'application/json' }).expect(403);
    await post(body, { ...headers, 'X-Twilio-Email-Event-Webhook-Signature': 'bm90IGEgc2lnbmF0dXJl' }).expect(
      403,
    );
    const unconfigured = await testApp();
    const res = await request(unconfigured.app)
      .post('/webhooks/sendgrid')
      .set(headers)
      .send(body)
      .expect(403);
    expect(res.body.error.message).to.include('SENDGRID_WEBHOOK_PUBLIC_KEY');
    const count = await t.db.knex('webhook_events').where('event_id', 'like', `%-${f.tag}`).count({ n: '*' });
    expect(Number(count[0].n)).to.equal(0);
  });

  it('processes the rest of a batch around a bad event; an opt-out without a known topic stops all marketing', async () => {
    const f = fixture();
    const who = f.email('erin');
    await upsertContact(t.ctx, system, who, {});
    const body = JSON.stringify([
      42,
      { event: 'unsubscribe', email: who },
      { event: 'unsubscribe', email: who, sg_event_id: `x-${f.tag}`, timestamp: 1795600500 },
    ]);
    const res = await post(body, signed(body, keys.privateKey)).expect(200);
    expect(res.body).to.deep.equal({
      received: 3,
      applied: 1,
      duplicate: 0,
      malformed: 2,
      failed: 0,
      pending: 0,
    });
    expect(await check(who, 'offers')).to.equal('unsubscribed_all');
    await post('{"not":"an array"}', signed('{"not":"an array"}', keys.privateKey)).expect(400);
  });
});
