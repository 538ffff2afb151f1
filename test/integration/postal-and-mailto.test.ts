// CAN-SPAM's postal address in marketing mail, and unsubscribing by sending mail (the mailto:
// in List-Unsubscribe, answered through SendGrid Inbound Parse), end to end through the real
// @sendgrid/mail client against a local fake SendGrid.
import { expect } from 'chai';
import request from 'supertest';
import { migrateLatest } from '../../db/migrate.ts';
import { loadConfig } from '../../server/config.ts';
import { upsertContact } from '../../server/contacts/service.ts';
import { withPostalAddress } from '../../server/mail/service.ts';
import { mailtoCode, verifyMailtoCode } from '../../server/tokens/tokens.ts';
import {
  apiKeyFor,
  TEST_HASH_SECRET,
  TEST_TOKEN_SECRET,
  type TestApp,
  testApp,
  uniqueEmail,
} from '../support/app.ts';
import { type FreshDb, freshDb } from '../support/db.ts';
import { type FakeSendGrid, startFakeSendGrid } from '../support/fake-sendgrid.ts';

const system = { actor: 'system' as const };
const INBOUND_TOKEN = 'inbound-secret-0123456789abcdef';
const ADDRESS = '500 Market St, San Francisco, CA 94105';

/** What SendGrid Inbound Parse posts for a message: multipart fields, the envelope as JSON. */
function inboundParse(app: TestApp['app'], token: string, to: string) {
  return request(app)
    .post(`/webhooks/inbound-email/${token}`)
    .field('to', to)
    .field('from', 'Ann <ann@example.com>')
    .field('subject', 'unsubscribe')
    .field('text', '')
    .field('envelope', JSON.stringify({ to: [to], from: 'ann@example.com' }))
    .attach('attachment1', Buffer.from('ignored'), 'note.txt');
}

describe('postal address and mailto: unsubscribe', () => {
  let fresh: FreshDb;
  let fake: FakeSendGrid;
  let t: TestApp;
  let auth: string;
  before(async () => {
    fresh = await freshDb();
    await migrateLatest(fresh.db.knex);
    fake = await startFakeSendGrid();
    t = await testApp({
      db: fresh.db,
      env: {
        SENDGRID_API_KEY: 'SG.test-key',
        SENDGRID_API_URL: fake.url,
        MAIL_FROM: 'News <news@montra.example>',
        BRAND_NAME: 'Montra',
        BRAND_POSTAL_ADDRESS: ADDRESS,
        INBOUND_EMAIL_DOMAIN: 'unsub.montra.example',
        INBOUND_EMAIL_TOKEN: INBOUND_TOKEN,
      },
    });
    auth = (await apiKeyFor(t)).auth;
  });
  after(async () => {
    await fake.close();
    await fresh.drop();
  });
  beforeEach(() => {
    fake.received.length = 0;
  });

  const send = (to: string, body: object) =>
    request(t.app)
      .post('/api/v1/messages')
      .set('Authorization', auth)
      .send({ to, topic: 'newsletter', subject: 'News', ...body })
      .expect(202);
  const check = async (recipient: string, topic = 'newsletter') =>
    (
      await request(t.app)
        .post('/api/v1/send-permission')
        .set('Authorization', auth)
        .send({ channel: 'email', recipient, topic })
        .expect(200)
    ).body;

  it('fills {{postal_address}}, or adds a footer with the address and the link when a body shows none', async () => {
    const email = uniqueEmail('postal');
    await upsertContact(t.ctx, system, email, {});
    await send(email, {
      html: '<html><body><p>Hi</p><a href="{{unsubscribe_url}}">Leave</a><p>{{postal_address}}</p></body></html>',
      text: 'Hi. Leave: {{unsubscribe_url}}',
    });
    const sent = fake.received[0].body as { content: { type: string; value: string }[] };
    const html = sent.content.find((c) => c.type === 'text/html')?.value as string;
    const text = sent.content.find((c) => c.type === 'text/plain')?.value as string;
    expect(html).to.include(`<p>${ADDRESS}</p>`);
    expect(html.match(/500 Market St/g)).to.have.length(1); // filled, so no footer too
    expect(text).to.match(
      /--\nMontra, 500 Market St, San Francisco, CA 94105\nUnsubscribe: https?:\/\/\S+\/u\//,
    );
  });

  it('adds nothing when no postal address is configured, and escapes what it adds', () => {
    const body = '<p>Hi</p>';
    expect(withPostalAddress(body, { name: 'X', postalAddress: null }, 'https://x/u/1', true)).to.equal(body);
    expect(
      withPostalAddress('A {{postal_address}} B', { name: 'X', postalAddress: null }, undefined, false),
    ).to.equal('A  B');
    expect(
      withPostalAddress(
        '<p>Hi</p></body>',
        { name: 'A&B', postalAddress: '1 <Main> St' },
        'https://x/u/1?a&b',
        true,
      ),
    ).to.equal(
      '<p>Hi</p><p style="font-size:12px;color:#57606a;margin-top:24px">A&amp;B · 1 &lt;Main&gt; St · <a href="https://x/u/1?a&amp;b">Unsubscribe</a></p></body>',
    );
  });

  it('names a mailto: address after the https URI, and a message to it unsubscribes the topic once', async () => {
    const email = uniqueEmail('mailto');
    await upsertContact(t.ctx, system, email, {});
    await send(email, { text: 'Leave: {{unsubscribe_url}}' });
    const header = (fake.received[0].body.headers as Record<string, string>)['List-Unsubscribe'];
    const m = /^<https?:\/\/[^>]+\/u\/[^>]+>, <mailto:(u\+[a-z2-7]{48}@unsub\.montra\.example)>$/.exec(
      header,
    );
    expect(m, header).to.not.equal(null);
    const to = (m as RegExpExecArray)[1];
    // the check API hands the same block to marketing systems that send their own mail
    expect((await check(email)).unsubscribe.headers['List-Unsubscribe']).to.include(`<mailto:${to}>`);

    // a wrong secret is refused and changes nothing
    await inboundParse(t.app, 'not-the-secret-0123456789abcd', to).expect(403);
    expect((await check(email)).reason).to.equal('subscribed');

    // mail clients may change the case of an address
    const res = await inboundParse(t.app, INBOUND_TOKEN, to.toUpperCase()).expect(200);
    expect(res.body).to.deep.equal({ received: 1, applied: 1, spooled: 0 });
    expect((await check(email)).reason).to.equal('unsubscribed_topic');
    expect((await check(email, 'offers')).reason).to.equal('subscribed');
    await inboundParse(t.app, INBOUND_TOKEN, to).expect(200); // the same message again
    const events = await t.db
      .knex('events')
      .where({ type: 'preference.changed' })
      .whereRaw("data->>'via' = 'mailto'");
    expect(events).to.have.length(1);
    expect(events[0]).to.include({ actor: 'recipient', topic: 'newsletter', new_value: 'unsubscribed' });
  });

  it('ignores addresses whose code does not verify, and mail to other addresses', async () => {
    const bogus = `u+${'a'.repeat(48)}@unsub.montra.example`;
    const res = await inboundParse(t.app, INBOUND_TOKEN, `${bogus}, someone@montra.example`).expect(200);
    expect(res.body).to.deep.equal({ received: 1, applied: 0, spooled: 0 });
  });
});

describe('mailto codes', () => {
  const keys = loadConfig({
    NODE_ENV: 'test',
    TOKEN_SECRET: TEST_TOKEN_SECRET,
    HASH_SECRET: TEST_HASH_SECRET,
  }).tokenKeys;
  const id = '2d4e6f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f';

  it('are lower-case base32 of 48 characters that name their contact and topic and nothing else', () => {
    const code = mailtoCode(keys, id, 'newsletter');
    expect(code).to.match(/^[a-z2-7]{48}$/);
    expect(verifyMailtoCode(keys, code, ['offers', 'newsletter'])).to.deep.equal({
      contactId: id,
      topic: 'newsletter',
    });
    expect(verifyMailtoCode(keys, code, ['offers'])).to.equal(null);
    const flipped = (code[10] === 'a' ? 'b' : 'a') + code.slice(1);
    expect(
      verifyMailtoCode(keys, `${code.slice(0, 10)}${flipped[0]}${code.slice(11)}`, ['newsletter']),
    ).to.equal(null);
    expect(verifyMailtoCode(keys, code.slice(1), ['newsletter'])).to.equal(null);
  });
});
