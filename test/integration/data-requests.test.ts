// A person's data on request: everything in one document, and each consent as a receipt.
import { expect } from 'chai';
import request from 'supertest';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { signToken } from '../../server/tokens/tokens.ts';
import { apiKeyFor, type TestApp, testApp, uniqueEmail, uniqueId, uniquePhone } from '../support/app.ts';
import { csrfOf, signedInStaff } from '../support/console.ts';

describe('data requests', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp({ env: { BRAND_NAME: 'Montra', BRAND_PRIVACY_URL: 'https://montra.example/privacy' } });
    auth = (await apiKeyFor(t)).auth;
  });

  async function customerWithConsent() {
    const account = uniqueId('acct');
    await request(t.app)
      .put(`/api/v1/accounts/${account}`)
      .set('Authorization', auth)
      .send({ agreement: { status: 'signed', signedAt: '2026-01-02', reference: 'MSA-1' } })
      .expect(201);
    const email = uniqueEmail('data');
    const phone = uniquePhone();
    await request(t.app)
      .put(`/api/v1/contacts/${email}`)
      .set('Authorization', auth)
      .send({ name: 'Dana Data', accountExternalId: account, phone })
      .expect(201);
    await request(t.app)
      .post(`/api/v1/contacts/${email}/consents`)
      .set('Authorization', auth)
      .send({
        phone,
        channels: ['sms'],
        method: 'web_form',
        disclosureVersion: 1,
        capturedAt: '2026-01-10T12:00:00Z',
        ip: '203.0.113.7',
        userAgent: 'Mozilla/5.0 test',
      })
      .expect(201);
    await request(t.app)
      .post(`/api/v1/contacts/${email}/unsubscribe`)
      .set('Authorization', auth)
      .send({ topic: 'newsletter' })
      .expect(200);
    return { email, phone };
  }

  it('exports the contact, preferences, consents with evidence and receipts, and every ledger event', async () => {
    const { email, phone } = await customerWithConsent();
    const res = await request(t.app)
      .get(`/api/v1/contacts/${email}/export`)
      .set('Authorization', auth)
      .expect(200);
    expect(res.headers['content-disposition']).to.match(/attachment/);
    const doc = res.body;
    expect(doc.contact).to.include({ email, name: 'Dana Data', phone });
    expect(doc.contact.preferences.email.topics.newsletter).to.equal('unsubscribed');
    expect(doc.consents).to.have.length(1);
    expect(doc.consents[0]).to.include({ phone, channel: 'sms', status: 'granted', ip: '203.0.113.7' });
    expect(doc.consents[0].receipt.consentReceiptID).to.equal(doc.consents[0].id);
    expect(doc.events.map((e: { type: string }) => e.type)).to.include.members([
      'contact.created',
      'consent.granted',
      'preference.changed',
    ]);
    expect(doc.events.every((e: { contactId: string }) => e.contactId === doc.events[0].contactId)).to.equal(
      true,
    );
  });

  it('gives each consent as a Kantara v1.1 receipt naming the brand, the words agreed to and how to revoke', async () => {
    const { email, phone } = await customerWithConsent();
    const history = await request(t.app).get(`/api/v1/contacts/${email}/consents`).set('Authorization', auth);
    const id = history.body.consents[0].id;
    const { body: r } = await request(t.app)
      .get(`/api/v1/contacts/${email}/consents/${id}/receipt`)
      .set('Authorization', auth)
      .expect(200);
    expect(r).to.include({
      version: 'KI-CR-v1.1.0',
      jurisdiction: 'US',
      consentTimestamp: Date.parse('2026-01-10T12:00:00Z') / 1000,
      consentReceiptID: id,
      language: 'en',
      piiPrincipalId: email,
      policyUrl: 'https://montra.example/privacy',
    });
    expect(r.piiControllers[0]).to.include({ piiController: 'Montra' });
    expect(r.services[0].service).to.equal(`Text messages to ${phone}`);
    expect(r.services[0].purposes[0].purpose).to.include('Consent is not a condition of any purchase');
    expect(r.services[0].purposes[0].termination).to.include('reply STOP');
    expect(r.evidence).to.include({ status: 'granted', method: 'web_form', disclosureVersion: 1 });
    expect(r.evidence.disclosureTextHash).to.match(/^[0-9a-f]{64}$/);
    // the person gets the same receipt from their preference page
    const contactId = (await t.db.knex('contacts').where({ email_key: email }).first()).id;
    const prefs = `/preferences/${signToken(t.ctx.config.tokenKeys, { purpose: 'preferences', contactId, topic: null })}`;
    const page = await request(t.app).get(prefs).expect(200);
    expect(page.text).to.include(`${prefs}/consents/${id}/receipt`);
    const mine = await request(t.app).get(`${prefs}/consents/${id}/receipt`).expect(200);
    expect(mine.headers['content-disposition']).to.match(/attachment/);
    expect(JSON.parse(mine.text).consentReceiptID).to.equal(id);
    // another contact's consent id is not found through this address
    const other = await customerWithConsent();
    await request(t.app)
      .get(`/api/v1/contacts/${other.email}/consents/${id}/receipt`)
      .set('Authorization', auth)
      .expect(404);
    const otherId = (await t.db.knex('contacts').where({ email_key: other.email }).first()).id;
    const otherPrefs = `/preferences/${signToken(t.ctx.config.tokenKeys, { purpose: 'preferences', contactId: otherId, topic: null })}`;
    await request(t.app).get(`${otherPrefs}/consents/${id}/receipt`).expect(404);
  });
});

describe('data requests from the preference page', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp({ env: { BASE_URL: 'http://prefs.test', BRAND_NAME: 'Montra' }, jobs: true });
  });
  after(() => t.ctx.jobs.stop());

  async function contactOf(account?: string) {
    const email = uniqueEmail('req');
    if (account)
      await upsertAccount(t.ctx, { actor: 'system' }, account, {
        agreement: { status: 'signed', signedAt: new Date('2026-01-01'), reference: 'R' },
      });
    const { contact } = await upsertContact(t.ctx, { actor: 'system' }, email, {
      name: 'Rae Request',
      accountExternalId: account,
    });
    return { email, id: contact.id as string };
  }
  const prefsPath = (id: string) =>
    `/preferences/${signToken(t.ctx.config.tokenKeys, { purpose: 'preferences', contactId: id, topic: null })}`;
  async function ask(id: string, kind: 'export' | 'deletion') {
    const page = await request(t.app).get(prefsPath(id)).expect(200);
    return request(t.app)
      .post(`${prefsPath(id)}/data/${kind}`)
      .type('form')
      .send({ csrf: csrfOf(page.text) })
      .expect(200);
  }
  /** The link in the newest mail to this contact, once the job has sent it. */
  /** The link in the `nth` mail (1: the first) with this subject to this contact, once the job sent it. */
  async function mailedLink(contactId: string, subject: RegExp, nth = 1) {
    for (let i = 0; i < 250; i++) {
      const rows = await t.db.knex('messages').where({ contact_id: contactId }).orderBy('created_at');
      const m = rows.filter((r) => subject.test(r.subject) && r.status !== 'pending')[nth - 1];
      if (m) return /(\/data\/[A-Za-z0-9_-]+)/.exec(m.text)?.[1] ?? m.text;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('no mail');
  }
  async function staffAgent(role: 'owner' | 'customer_admin', account?: string) {
    const { agent } = await signedInStaff(t, role, account);
    const page = await agent.get('/admin/data-requests').expect(200);
    return { agent, csrf: csrfOf(page.text) };
  }

  it('mails a 24-hour link whose page has the download button; fetching the link changes nothing', async () => {
    const c = await contactOf();
    const sent = await ask(c.id, 'export');
    expect(sent.text).to.include('We sent a link to');
    const link = await mailedLink(c.id, /Your data at Montra/);
    const page = await request(t.app).get(link).expect(200); // a mail scanner does this
    expect(page.text).to.include('Download my data');
    const file = await request(t.app)
      .post(link)
      .type('form')
      .send({ csrf: csrfOf(page.text), action: 'download' })
      .expect(200);
    expect(file.headers['content-disposition']).to.match(/attachment; filename="my-data.json"/);
    expect(JSON.parse(file.text).contact.email).to.equal(c.email);
    // after 24 hours the link is gone
    await t.db
      .knex('data_requests')
      .where({ contact_id: c.id })
      .update({ expires_at: new Date(Date.now() - 1000) });
    expect((await request(t.app).get(link).expect(410)).text).to.include('This link has expired');
  });

  it('takes a deletion request confirmed by its mailed link, decided in the console, the person told either way', async () => {
    const account = uniqueId('acct');
    const c = await contactOf(account);
    await ask(c.id, 'deletion');
    const link = await mailedLink(c.id, /Confirm your deletion request/);
    const page = await request(t.app).get(link).expect(200);
    expect(page.text).to.include('Yes, ask for my data to be deleted');
    expect((await t.db.knex('data_requests').where({ contact_id: c.id }).first()).status).to.equal(
      'awaiting_confirmation',
    );
    const confirmed = await request(t.app)
      .post(link)
      .type('form')
      .send({ csrf: csrfOf(page.text), action: 'confirm' })
      .expect(200);
    expect(confirmed.text).to.include('will decide by');
    const req = await t.db.knex('data_requests').where({ contact_id: c.id }).first();
    expect(req.status).to.equal('pending');
    expect(new Date(req.due_at).getTime() - Date.now()).to.be.within(44.9 * 86400_000, 45 * 86400_000);

    // another account's administrator cannot see or decide it
    const otherAccount = uniqueId('other');
    await upsertAccount(t.ctx, { actor: 'system' }, otherAccount, {});
    const other = await staffAgent('customer_admin', otherAccount);
    expect((await other.agent.get('/admin/data-requests').expect(200)).text).not.to.include(c.email);
    await other.agent
      .post(`/admin/data-requests/${req.id}/approve`)
      .type('form')
      .send({ csrf: other.csrf, confirm: 'yes' })
      .expect(404);

    // its own administrator declines, with a reason the person is told
    const own = await staffAgent('customer_admin', account);
    // past its 45 days it is flagged on every console page of those who decide it, and no one else's
    await t.db
      .knex('data_requests')
      .where({ id: req.id })
      .update({ due_at: new Date(Date.now() - 1000) });
    expect((await own.agent.get('/admin/contacts').expect(200)).text).to.include('past their 45 days');
    expect((await other.agent.get('/admin/contacts').expect(200)).text).not.to.include('past their 45 days');
    expect((await own.agent.get('/admin/data-requests').expect(200)).text).to.include(c.email);
    await own.agent
      .post(`/admin/data-requests/${req.id}/decline`)
      .type('form')
      .send({ csrf: own.csrf })
      .expect(400);
    await own.agent
      .post(`/admin/data-requests/${req.id}/decline`)
      .type('form')
      .send({ csrf: own.csrf, reason: 'Payroll records must be kept for 4 years.' })
      .expect(303);
    const declined = await mailedLink(c.id, /Your deletion request at Montra/);
    expect(declined).to.include('Payroll records must be kept for 4 years.');

    // a second request, approved by an owner: the person is told, then erased
    await ask(c.id, 'deletion');
    const link2 = await mailedLink(c.id, /Confirm your deletion request/, 2);
    const page2 = await request(t.app).get(link2).expect(200);
    await request(t.app)
      .post(link2)
      .type('form')
      .send({ csrf: csrfOf(page2.text), action: 'confirm' })
      .expect(200);
    const pending = await t.db.knex('data_requests').where({ contact_id: c.id, status: 'pending' }).first();
    const owner = await staffAgent('owner');
    await owner.agent
      .post(`/admin/data-requests/${pending.id}/approve`)
      .type('form')
      .send({ csrf: owner.csrf })
      .expect(400); // without ticking the confirmation: nothing erased
    expect((await t.db.knex('contacts').where({ id: c.id }).first()).erased_at).to.equal(null);
    await owner.agent
      .post(`/admin/data-requests/${pending.id}/approve`)
      .type('form')
      .send({ csrf: owner.csrf, confirm: 'yes' })
      .expect(303);
    const row = await t.db.knex('contacts').where({ id: c.id }).first();
    expect(row.erased_at).to.not.equal(null);
    // every mail to the person (the last says the data was deleted) is anonymised by the erasure
    const mails = await t.db.knex('messages').where({ contact_id: c.id }).orderBy('created_at');
    expect(mails).to.have.length(4); // confirm, declined, confirm, deleted
    expect(mails.every((m) => !m.to_email.includes('@') && m.subject === '[erased]')).to.equal(true);
    const types = (await t.db.knex('events').where({ contact_id: c.id }).orderBy('id')).map(
      (e) => `${e.type}:${e.new_value ?? ''}`,
    );
    expect(types).to.include.members([
      'data_request.created:deletion',
      'data_request.confirmed:pending',
      'data_request.decided:declined',
      'data_request.decided:approved',
      'contact.erased:',
    ]);
  });
});
