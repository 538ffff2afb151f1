import { expect } from 'chai';
import request from 'supertest';
import { apiKeyFor, type TestApp, testApp, uniqueEmail, uniqueId, uniquePhone } from '../support/app.ts';

describe('contacts and accounts API', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t, ['contacts'])).auth;
  });
  const put = (email: string, body: object) =>
    request(t.app)
      .put(`/api/v1/contacts/${encodeURIComponent(email)}`)
      .set('Authorization', auth)
      .send(body);

  it('PUT creates (201) then merges (200): absent fields stay, null clears', async () => {
    const email = ` Ann+News.${uniqueId('x')}@Example.com `;
    const created = await put(email, {
      name: '<b>Ann</b> "O\'Hara"',
      locale: 'es',
      timeZone: 'Europe/Madrid',
    }).expect(201);
    expect(created.body.email).to.equal(email.trim());
    expect(created.body.name).to.equal('<b>Ann</b> "O\'Hara"');
    expect(created.body.preferences.email.allMarketing).to.equal('subscribed');
    expect(Object.keys(created.body.preferences.email.topics)).to.deep.equal([
      'newsletter',
      'product-updates',
      'events',
      'offers',
    ]);
    expect(Object.keys(created.body.preferences.voice.topics)).to.deep.equal(['events', 'offers']);
    expect(created.body.preferencesUrl).to.match(/^https:\/\/prefs\.example\.test\/preferences\//);
    const merged = await put(email.trim().toLowerCase(), { locale: null }).expect(200);
    expect(merged.body).to.include({ name: '<b>Ann</b> "O\'Hara"', locale: null, timeZone: 'Europe/Madrid' });
  });

  it('writes one ledger event per change and none for a no-op', async () => {
    const email = uniqueEmail();
    const res = await put(email, { name: 'A' }).expect(201);
    const contact = await t.db.knex('contacts').whereRaw('lower(email) = ?', [email]).first();
    const count = async () =>
      Number((await t.db.knex('events').where({ contact_id: contact.id }).count({ n: '*' }))[0].n);
    expect(await count()).to.equal(1);
    await put(email, { name: 'A' }).expect(200);
    expect(await count()).to.equal(1);
    await put(email, { name: 'B' }).expect(200);
    expect(await count()).to.equal(2);
    const last = await t.db.knex('events').where({ contact_id: contact.id }).orderBy('id', 'desc').first();
    expect(last.actor).to.match(/^apikey:/);
    expect(last.type).to.equal('contact.updated');
    expect(res.body.name).to.equal('A');
  });

  it('stores phones in E.164 and refuses a number held by another contact with 409', async () => {
    const phone = uniquePhone();
    const a = uniqueEmail('a');
    const res = await put(a, { phone: `${phone.slice(2, 5)}.${phone.slice(5, 8)}.${phone.slice(8)}` }).expect(
      201,
    );
    expect(res.body.phone).to.equal(phone);
    const clash = await put(uniqueEmail('b'), { phone }).expect(409);
    expect(clash.body.error.code).to.equal('conflict');
    const bad = await put(uniqueEmail('c'), { phone: '555' }).expect(400);
    expect(bad.body.error.details[0].field).to.equal('phone');
  });

  it('refuses bad fields with a detail for each', async () => {
    const res = await put(uniqueEmail(), {
      timeZone: 'Mars/Base',
      locale: '!!',
      nmae: 'typo',
      name: 5,
    }).expect(400);
    const fields = res.body.error.details.map((d: { field?: string }) => d.field);
    expect(fields).to.include.members(['timeZone', 'locale', 'name']);
    expect(JSON.stringify(res.body.error.details)).to.include('nmae');
    await put('not-an-email', {}).expect(400);
    await put(uniqueEmail(), { accountExternalId: 'no-such-account-xyz' }).expect(400);
  });

  it('PUT account: signed needs signedAt and reference; changes go on the ledger', async () => {
    const id = uniqueId();
    const bad = await request(t.app)
      .put(`/api/v1/accounts/${id}`)
      .set('Authorization', auth)
      .send({ agreement: { status: 'signed' } })
      .expect(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field)).to.have.members([
      'agreement.signedAt',
      'agreement.reference',
    ]);
    const ok = await request(t.app)
      .put(`/api/v1/accounts/${id}`)
      .set('Authorization', auth)
      .send({ name: 'Acme', agreement: { status: 'signed', signedAt: '2026-03-01', reference: 'MSA-7' } })
      .expect(201);
    expect(ok.body.agreement).to.deep.equal({
      status: 'signed',
      signedAt: '2026-03-01T00:00:00.000Z',
      reference: 'MSA-7',
    });
    const term = await request(t.app)
      .put(`/api/v1/accounts/${id}`)
      .set('Authorization', auth)
      .send({ agreement: { status: 'terminated' } })
      .expect(200);
    expect(term.body.agreement.status).to.equal('terminated');
    expect(term.body.agreement.reference).to.equal('MSA-7');
    const account = await t.db.knex('accounts').where({ external_id: id }).first();
    const events = await t.db.knex('events').where({ account_id: account.id }).orderBy('id');
    expect(events.map((e) => `${e.type}:${e.old_value ?? ''}>${e.new_value ?? ''}`)).to.deep.equal([
      'account.created:>',
      'agreement.changed:none>signed',
      'agreement.changed:signed>terminated',
    ]);
  });

  it('unsubscribe: a topic on every channel it is offered on, or all marketing everywhere', async () => {
    const email = uniqueEmail();
    await put(email, {}).expect(201);
    const one = await request(t.app)
      .post(`/api/v1/contacts/${email}/unsubscribe`)
      .set('Authorization', auth)
      .send({ topic: 'offers' })
      .expect(200);
    expect(one.body.changed.map((c: { channel: string }) => c.channel)).to.deep.equal([
      'email',
      'sms',
      'voice',
    ]);
    expect(one.body.preferences.sms.topics.offers).to.equal('unsubscribed');
    const again = await request(t.app)
      .post(`/api/v1/contacts/${email}/unsubscribe`)
      .set('Authorization', auth)
      .send({ topic: 'offers' })
      .expect(200);
    expect(again.body.changed).to.deep.equal([]);
    await request(t.app)
      .post(`/api/v1/contacts/${email}/unsubscribe`)
      .set('Authorization', auth)
      .send({ topic: 'security' })
      .expect(400);
    await request(t.app)
      .post(`/api/v1/contacts/${email}/unsubscribe`)
      .set('Authorization', auth)
      .send({ topic: 'newsletter', channel: 'sms' })
      .expect(400);
    await request(t.app)
      .post(`/api/v1/contacts/${uniqueEmail()}/unsubscribe`)
      .set('Authorization', auth)
      .send({})
      .expect(404);
  });

  it('GET /api/v1/topics lists topics for any valid key', async () => {
    const k = await apiKeyFor(t, ['events']);
    const res = await request(t.app).get('/api/v1/topics').set('Authorization', k.auth).expect(200);
    expect(res.body.topics.find((x: { slug: string }) => x.slug === 'security')).to.include({
      kind: 'operational',
    });
    await request(t.app).get('/api/v1/topics').expect(401);
  });
});

describe('bodies that are not JSON', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t, ['contacts'])).auth;
  });

  it('answers a targeted unsubscribe sent as text/plain with 415 and changes nothing', async () => {
    const email = uniqueEmail();
    await request(t.app).put(`/api/v1/contacts/${email}`).set('Authorization', auth).send({}).expect(201);
    const res = await request(t.app)
      .post(`/api/v1/contacts/${email}/unsubscribe`)
      .set('Authorization', auth)
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify({ topic: 'newsletter' }))
      .expect(415);
    expect(res.body.error.code).to.equal('unsupported_media_type');
    expect(res.body.error.message).to.include('application/json');
    for (const type of ['application/x-www-form-urlencoded', 'application/octet-stream']) {
      await request(t.app)
        .post(`/api/v1/contacts/${email}/unsubscribe`)
        .set('Authorization', auth)
        .set('Content-Type', type)
        .send('topic=newsletter')
        .expect(415);
    }
    const got = await request(t.app).get(`/api/v1/contacts/${email}`).set('Authorization', auth).expect(200);
    expect(got.body.preferences.email.allMarketing).to.equal('subscribed');
    expect(got.body.preferences.email.topics.newsletter).to.equal('subscribed');
    // JSON, with or without a charset, and a body-less POST are still taken
    await request(t.app)
      .post(`/api/v1/contacts/${email}/unsubscribe`)
      .set('Authorization', auth)
      .set('Content-Type', 'application/json; charset=utf-8')
      .send(JSON.stringify({ topic: 'newsletter' }))
      .expect(200);
    const after = await request(t.app)
      .get(`/api/v1/contacts/${email}`)
      .set('Authorization', auth)
      .expect(200);
    expect(after.body.preferences.email.allMarketing).to.equal('subscribed');
    expect(after.body.preferences.email.topics.newsletter).to.equal('unsubscribed');
  });

  it('answers a contact PUT sent as a form with 415 and creates nothing', async () => {
    const email = uniqueEmail();
    await request(t.app)
      .put(`/api/v1/contacts/${email}`)
      .set('Authorization', auth)
      .type('form')
      .send({ name: 'Ann' })
      .expect(415);
    await request(t.app).get(`/api/v1/contacts/${email}`).set('Authorization', auth).expect(404);
  });
});
