// A pause instead of leaving (decisions, the API, the ledger, the end of a pause), and the brand
// a company puts on the recipient side (pages, stylesheet, mail, disclosures, console).
import { expect } from 'chai';
import request from 'supertest';
import { migrateLatest } from '../../db/migrate.ts';
import { createApp } from '../../server/app.ts';
import { accessibleAccent, contrast } from '../../server/brand/rules.ts';
import { currentDisclosure, syncDisclosures } from '../../server/consent/service.ts';
import { upsertContact } from '../../server/contacts/service.ts';
import { endDuePauses } from '../../server/preferences/service.ts';
import { apiKeyFor, type TestApp, testApp, testConfig, uniqueEmail } from '../support/app.ts';
import { csrfOf, signedInStaff } from '../support/console.ts';
import { type FreshDb, freshDb } from '../support/db.ts';

const system = { actor: 'system' as const };
const DAY = 24 * 3600_000;

describe('pause', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t)).auth;
  });
  const put = (email: string, body: object) =>
    request(t.app).put(`/api/v1/contacts/${email}`).set('Authorization', auth).send(body);
  const check = (recipient: string, topic = 'newsletter') =>
    request(t.app)
      .post('/api/v1/send-permission')
      .set('Authorization', auth)
      .send({ channel: 'email', recipient, topic })
      .expect(200);
  const events = (contactId: string) =>
    t.db.knex('events').where({ contact_id: contactId, type: 'preference.changed' }).orderBy('id');

  it('answers paused with retryAfter in every check and the gateway, and lets operational mail through', async () => {
    const email = uniqueEmail('pause');
    const until = new Date(Date.now() + 30 * DAY);
    const created = await put(email, { name: 'Pat', pausedUntil: until.toISOString() }).expect(201);
    expect(created.body.pausedUntil).to.equal(until.toISOString());

    const one = (await check(email)).body;
    expect(one).to.include({ allowed: false, reason: 'paused', retryAfter: until.toISOString() });
    expect((await check(email, 'account')).body).to.include({ allowed: true, reason: 'operational' });

    const batch = await request(t.app)
      .post('/api/v1/send-permission/batch')
      .set('Authorization', auth)
      .send({ channel: 'email', topic: 'offers', recipients: [email] })
      .expect(200);
    expect(batch.body.results[0]).to.include({ reason: 'paused', retryAfter: until.toISOString() });

    const stream = await request(t.app)
      .post('/api/v1/send-permission/stream?channel=email&topic=offers')
      .set('Authorization', auth)
      .type('text/plain')
      .send(`${email}\n`)
      .expect(200);
    expect(JSON.parse(stream.text.trim())).to.include({ reason: 'paused', retryAfter: until.toISOString() });

    const sent = await request(t.app)
      .post('/api/v1/messages')
      .set('Authorization', auth)
      .send({ to: email, topic: 'offers', subject: 'Hi', text: 'Bye: {{unsubscribe_url}}' })
      .expect(422);
    expect(sent.body).to.deep.equal({
      status: 'suppressed',
      reason: 'paused',
      retryAfter: until.toISOString(),
    });

    // an unsubscribe outranks a pause: the check says why the mail really does not go
    await request(t.app)
      .post(`/api/v1/contacts/${email}/unsubscribe`)
      .set('Authorization', auth)
      .send({ topic: 'newsletter' })
      .expect(200);
    expect((await check(email)).body.reason).to.equal('unsubscribed_topic');
  });

  it('writes the pause and its early end on the ledger, once each', async () => {
    const email = uniqueEmail('pause');
    const until = new Date(Date.now() + 60 * DAY);
    const { body } = await put(email, { pausedUntil: until.toISOString() }).expect(201);
    await put(email, { pausedUntil: until.toISOString() }).expect(200); // the same again: nothing new
    const id = (await t.db.knex('contacts').where({ email_key: email }).first('id')).id;
    await put(email, { pausedUntil: null }).expect(200);
    expect(body.pausedUntil).to.equal(until.toISOString());
    const rows = await events(id);
    expect(rows.map((e) => [e.channel, e.topic, e.old_value, e.new_value])).to.deep.equal([
      ['email', '*', 'subscribed', 'paused'],
      ['email', '*', 'paused', 'subscribed'],
    ]);
    expect(rows[0].data).to.deep.equal({ pausedUntil: until.toISOString() });
    expect((await check(email)).body.reason).to.equal('subscribed');
  });

  it('refuses a pause in the past or more than a year ahead, naming the field, and writes nothing', async () => {
    const email = uniqueEmail('pause');
    for (const pausedUntil of [
      new Date(Date.now() - DAY).toISOString(),
      new Date(Date.now() + 400 * DAY).toISOString(),
      'tomorrow',
    ]) {
      const res = await put(email, { name: 'X', pausedUntil }).expect(400);
      expect(res.body.error.details.map((d: { field: string }) => d.field)).to.deep.equal(['pausedUntil']);
    }
    expect(await t.db.knex('contacts').where({ email_key: email })).to.deep.equal([]);
  });

  it('ends by itself: the check allows from the end, and the sweep writes it once, as the system', async () => {
    const email = uniqueEmail('pause');
    const until = new Date(Date.now() + 30 * DAY);
    const { contact } = await upsertContact(t.ctx, system, email, {});
    await put(email, { pausedUntil: until.toISOString() }).expect(200);
    const later = new Date(until.getTime() + 1000);
    const afterwards = createApp({ config: testConfig(), db: t.db, now: () => later });
    const decided = await request(afterwards)
      .post('/api/v1/send-permission')
      .set('Authorization', auth)
      .send({ channel: 'email', recipient: email, topic: 'offers' })
      .expect(200);
    expect(decided.body.reason).to.equal('subscribed');

    expect(await endDuePauses(t.ctx, later)).to.be.greaterThan(0);
    await endDuePauses(t.ctx, later); // a second sweep (another process) ends nothing again
    const rows = await events(contact.id);
    expect(rows.map((e) => [e.old_value, e.new_value, e.actor])).to.deep.equal([
      ['subscribed', 'paused', rows[0].actor],
      ['paused', 'subscribed', 'system'],
    ]);
    expect(rows[1].data).to.deep.equal({ pauseEnded: until.toISOString() });
    const view = await request(t.app).get(`/api/v1/contacts/${email}`).set('Authorization', auth).expect(200);
    expect(view.body.pausedUntil).to.equal(null);
  });
});

describe('brand', () => {
  let fresh: FreshDb;
  let t: TestApp;
  before(async () => {
    fresh = await freshDb();
    await migrateLatest(fresh.db.knex);
    t = await testApp({
      db: fresh.db,
      env: {
        BASE_URL: 'http://console.test',
        BRAND_NAME: 'Montra Technologies',
        BRAND_POSTAL_ADDRESS: '500 Market St, San Francisco, CA 94105',
        BRAND_PRIVACY_URL: 'https://montra.example/privacy',
        BRAND_COLOR: '#ffd700',
        MAIL_FROM: 'News <news@montra.example>',
      },
    });
  });
  after(() => fresh.drop());

  it('puts the brand on the home page: name, title, postal address, privacy link, help, the link form', async () => {
    const res = await request(t.app).get('/').expect(200);
    expect(res.text).to.include(
      '<title>Email preferences for Montra Technologies · Montra Technologies</title>',
    );
    expect(res.text).to.include('500 Market St, San Francisco, CA 94105');
    expect(res.text).to.include('href="https://montra.example/privacy"');
    expect(res.text).to.match(/<form method="post" action="\/preferences"/);
    const es = await request(t.app).get('/').set('Accept-Language', 'es').expect(200);
    expect(es.text).to.include('Preferencias de correo de Montra Technologies');
    expect(es.text).to.include('Política de privacidad');
  });

  it('serves the colour as a stylesheet, darkened until text on the pages reads at 4.5:1', async () => {
    const home = await request(t.app).get('/').expect(200);
    const href = /<link rel="stylesheet" href="(\/brand\.css\?v=[0-9a-f]+)">/.exec(home.text)?.[1] as string;
    const css = await request(t.app).get(href).expect(200);
    expect(css.headers['content-type']).to.match(/text\/css/);
    const accent = /--accent:(#[0-9a-f]{6})/.exec(css.text)?.[1] as string;
    const ink = /--accent-ink:(#[0-9a-f]{6})/.exec(css.text)?.[1] as string;
    expect(accent).to.not.equal('#ffd700'); // gold on white is unreadable: darkened
    expect(contrast(accent, '#ffffff')).to.be.at.least(4.5);
    expect(contrast(accent, ink)).to.be.at.least(4.5);
  });

  it('mails the preferences link in the brand name, with its postal address', async () => {
    const email = uniqueEmail('brand');
    const { contact } = await upsertContact(t.ctx, system, email, {});
    const { sendPreferencesLink } = await import('../../server/preferences/service.ts');
    await sendPreferencesLink(t.ctx, t.ctx.mailer, contact.id, 'en');
    const mail = await t.db.knex('messages').where({ contact_id: contact.id }).first();
    expect(mail.from_email).to.equal('"Montra Technologies" <news@montra.example>');
    expect(mail.subject).to.equal('Your email preferences at Montra Technologies');
    expect(mail.text).to.include('the email you get from Montra Technologies');
    expect(mail.text).to.include('500 Market St, San Francisco, CA 94105');
  });

  it('publishes disclosures that name the brand as new versions, in English and Spanish, keeping the old', async () => {
    expect(await syncDisclosures(t.ctx, 'Montra Technologies')).to.equal(4);
    expect(await syncDisclosures(t.ctx, 'Montra Technologies')).to.equal(0);
    const en = await currentDisclosure(t.ctx, 'sms', 'en');
    const es = await currentDisclosure(t.ctx, 'sms', 'es');
    expect(en.text).to.include('from Montra Technologies');
    expect(en.text).to.not.include('from us');
    expect(en.version).to.equal(2);
    expect(es).to.include({ locale: 'es', version: 1 });
    expect(es.text).to.include('de Montra Technologies');
    expect(await t.db.knex('disclosures').where({ channel: 'sms', locale: 'en', version: 1 })).to.have.length(
      1,
    );
  });

  it('lets an owner edit the brand in the console, on the ledger, and the pages show it at once', async () => {
    const { agent } = await signedInStaff(t, 'owner');
    const page = await agent.get('/admin/brand').expect(200);
    expect(page.text).to.include('Default: Montra Technologies');
    const bad = await agent
      .post('/admin/brand')
      .type('form')
      .send({ csrf: csrfOf(page.text), name: 'Montra', color: 'gold', logoUrl: 'javascript:alert(1)' });
    expect(bad.status).to.equal(400);
    expect(bad.text).to.include('color');
    expect(bad.text).to.include('logoUrl');
    await agent
      .post('/admin/brand')
      .type('form')
      .send({ csrf: csrfOf(page.text), name: 'Montra Health', color: '#12613a', postalAddress: '' })
      .expect(303);
    const [event] = await t.db.knex('events').where({ type: 'brand.updated' });
    expect(event.data).to.deep.equal({ fields: ['name', 'color'] });
    const home = await request(t.app).get('/').expect(200);
    expect(home.text).to.include('Email preferences for Montra Health');
    expect(home.text).to.include('500 Market St'); // an empty field keeps the default
    expect((await currentDisclosure(t.ctx, 'voice', 'en')).text).to.include('from Montra Health');
  });
});

describe('brand colours', () => {
  it('keeps a readable colour as given and darkens a light one until it reads', () => {
    expect(accessibleAccent('#0a5bd3').accent).to.equal('#0a5bd3');
    for (const c of ['#ffffff', '#ffd700', '#7fffd4', '#ff69b4', '#00ff00']) {
      const { accent, ink } = accessibleAccent(c);
      expect(contrast(accent, '#ffffff'), c).to.be.at.least(4.5);
      expect(contrast(accent, '#f6f8fa'), c).to.be.at.least(4.5);
      expect(contrast(accent, ink), c).to.be.at.least(4.5);
    }
  });
});
