// A person's data on request: everything in one document, and each consent as a receipt.
import { expect } from 'chai';
import request from 'supertest';
import { apiKeyFor, type TestApp, testApp, uniqueEmail, uniqueId, uniquePhone } from '../support/app.ts';

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
    // another contact's consent id is not found through this address
    const other = await customerWithConsent();
    await request(t.app)
      .get(`/api/v1/contacts/${other.email}/consents/${id}/receipt`)
      .set('Authorization', auth)
      .expect(404);
  });
});
