import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import request from 'supertest';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { apiKeyFor, uniqueEmail, uniquePhone } from '../support/app.ts';
import {
  emailReason,
  expectAccessible,
  keyboardActivate,
  launch,
  MODES,
  press,
  shot,
  startApp,
} from './support.ts';

const system = { actor: 'system' as const };

describe('recipient pages in Chromium', () => {
  let app: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser;
  let sendAuth: string;
  let checkAuth: string;
  before(async () => {
    app = await startApp();
    browser = await launch();
    sendAuth = (await apiKeyFor(app, ['send'])).auth;
    checkAuth = (await apiKeyFor(app, ['check'])).auth;
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  const check = (recipient: string, topic: string) => emailReason(app, checkAuth, recipient, topic);

  /** Sends a newsletter through the gateway (local outbox) and returns its unsubscribe link. */
  async function linkFromOutbox(email: string) {
    const sent = await request(app.app)
      .post('/api/v1/messages')
      .set('Authorization', sendAuth)
      .send({
        to: email,
        topic: 'newsletter',
        subject: 'News',
        html: '<a href="{{unsubscribe_url}}">Unsubscribe</a>',
      })
      .expect(202);
    const msg = await request(app.app)
      .get(`/api/v1/messages/${sent.body.id}`)
      .set('Authorization', sendAuth)
      .expect(200);
    return /^<(.+)>$/.exec(msg.body.headers['List-Unsubscribe'])?.[1] as string;
  }

  for (const mode of MODES) {
    it(`unsubscribe link → one topic → undo → all marketing (${mode.name})`, async () => {
      const email = uniqueEmail('e2e');
      await upsertContact(app.ctx, system, email, { name: 'Erin E2E' });
      const link = await linkFromOutbox(email);
      const context = await browser.newContext(mode.options);
      const page = await context.newPage();
      try {
        await page.goto(link);
        expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('Unsubscribe');
        expect(await page.textContent('main')).to.include('•••@example.com');
        if (mode.axe) await expectAccessible(page, `unsubscribe (${mode.name})`);
        await shot(page, `unsubscribe-${mode.name}`);

        await press(page, mode, 'Unsubscribe from “Newsletter”');
        expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('You are unsubscribed');
        expect(await check(email, 'newsletter')).to.equal('unsubscribed_topic');
        if (mode.axe) await expectAccessible(page, `confirmation (${mode.name})`);
        await shot(page, `unsubscribed-${mode.name}`);

        await press(page, mode, /^Undo$/);
        expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal(
          'You are subscribed again',
        );
        expect(await check(email, 'newsletter')).to.equal('subscribed');
        if (mode.axe) await expectAccessible(page, `undone (${mode.name})`);
        await shot(page, `undone-${mode.name}`);

        await page.goto(link);
        await press(page, mode, 'Unsubscribe from all marketing email');
        expect(await page.textContent('main')).to.include('You will no longer get any marketing email');
        for (const topic of ['newsletter', 'offers', 'events'])
          expect(await check(email, topic)).to.equal('unsubscribed_all');
        expect(await check(email, 'account')).to.equal('operational');
        expect(await check(email, 'security')).to.equal('operational');

        // the optional reason
        const reason = page.getByRole('radio', { name: 'Too many emails' });
        if (mode.keyboard) await keyboardActivate(page, reason, 'Space');
        else await reason.check();
        await press(page, mode, 'Send answer');
        expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('Thank you');
        if (mode.axe) await expectAccessible(page, `thanks (${mode.name})`);
      } finally {
        await context.close();
      }
    });

    it(`preference center: change two topics, save, reload, state kept (${mode.name})`, async () => {
      const email = uniqueEmail('e2e');
      const { contact } = await upsertContact(app.ctx, system, email, { name: 'Pat Prefs' });
      const view = await request(app.app).get('/api/v1/topics').set('Authorization', sendAuth);
      expect(view.status).to.equal(200);
      const link = (
        await request(app.app)
          .post('/api/v1/messages')
          .set('Authorization', sendAuth)
          .send({ to: email, topic: 'account', subject: 'Hi', text: 'Prefs: {{preferences_url}}' })
          .expect(202)
      ).body.id;
      const msg = await request(app.app).get(`/api/v1/messages/${link}`).set('Authorization', sendAuth);
      const prefsUrl = /(http:\/\/\S+\/preferences\/\S+)/.exec(msg.body.text)?.[1] as string;
      const context = await browser.newContext(mode.options);
      const page = await context.newPage();
      try {
        await page.goto(prefsUrl);
        if (mode.axe) await expectAccessible(page, `preferences (${mode.name})`);
        await shot(page, `preferences-${mode.name}`);
        const newsletter = page.getByRole('checkbox', { name: /Newsletter/ });
        const offers = page.getByRole('checkbox', { name: /Offers and promotions/ });
        for (const box of [newsletter, offers]) {
          if (mode.keyboard) await keyboardActivate(page, box, 'Space');
          else await box.uncheck();
        }
        await press(page, mode, 'Save preferences');
        expect(await page.textContent('main')).to.include('Saved.');
        await page.reload();
        expect(await newsletter.isChecked()).to.equal(false);
        expect(await offers.isChecked()).to.equal(false);
        expect(await page.getByRole('checkbox', { name: /Events and webinars/ }).isChecked()).to.equal(true);
        if (mode.axe) await expectAccessible(page, `preferences saved (${mode.name})`);
        await shot(page, `preferences-saved-${mode.name}`);
        expect(await check(email, 'newsletter')).to.equal('unsubscribed_topic');
        const changes = await app.db
          .knex('events')
          .where({ contact_id: contact.id, type: 'preference.changed' });
        expect(changes).to.have.length(2);
      } finally {
        await context.close();
      }
    });
  }

  it('phone consent capture and revoke for a signed customer (keyboard only)', async () => {
    await upsertAccount(app.ctx, system, 'e2e-signed', {
      name: 'Signed Co',
      agreement: { status: 'signed', signedAt: new Date('2026-01-01T00:00:00Z'), reference: 'MSA-E2E' },
    });
    const email = uniqueEmail('e2e');
    const { contact } = await upsertContact(app.ctx, system, email, {
      accountExternalId: 'e2e-signed',
      timeZone: 'America/New_York',
    });
    const { preferencesUrl } = await import('../../server/tokens/tokens.ts');
    const url = preferencesUrl(app.base, app.ctx.config.tokenKeys, contact.id);
    const phone = uniquePhone();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      await page.goto(url);
      expect(await page.textContent('#phone')).to.include('Consent is not a condition of any purchase.');
      expect(await page.getByRole('checkbox', { name: /text messages/ }).isChecked()).to.equal(false);
      await expectAccessible(page, 'phone consent form');
      await shot(page, 'phone-consent-form');
      const input = page.getByLabel('Mobile phone number');
      await keyboardActivate(page, input, 'Enter').catch(() => {});
      await input.fill(phone);
      await keyboardActivate(page, page.getByRole('checkbox', { name: /text messages/ }), 'Space');
      let loaded = page.waitForEvent('load');
      await keyboardActivate(page, page.getByRole('button', { name: 'Save my consent' }));
      await loaded;
      // the number is confirmed first, with the code texted to it (the local outbox here)
      expect(page.url()).to.match(/\/confirm-phone\//);
      expect(await page.textContent('h1')).to.include('Confirm your number');
      await expectAccessible(page, 'confirm the number');
      await shot(page, 'phone-confirm-code');
      const text = await app.db
        .knex('text_messages')
        .where({ to_phone: phone })
        .orderBy('created_at', 'desc')
        .first('body');
      const code = /code is (\d{6})/.exec(text?.body ?? '')?.[1] ?? '';
      const codeInput = page.getByLabel('Code from the text message');
      await keyboardActivate(page, codeInput, 'Enter').catch(() => {});
      await codeInput.fill(code);
      loaded = page.waitForEvent('load');
      await keyboardActivate(page, page.getByRole('button', { name: 'Confirm and record my consent' }));
      await loaded;
      expect(await page.textContent('#phone')).to.include('Thank you: your consent is recorded.');
      await expectAccessible(page, 'phone consent granted');
      await shot(page, 'phone-consent-granted');
      const row = await app.db.knex('consents').where({ contact_id: contact.id }).first();
      expect(row).to.include({ channel: 'sms', method: 'web_form', phone, status: 'granted' });
      expect(row.user_agent).to.match(/Chrome/);
      loaded = page.waitForEvent('load');
      await keyboardActivate(page, page.getByRole('button', { name: 'Stop text messages' }));
      await loaded;
      expect(await page.textContent('#phone')).to.include('we will not text or call you');
      expect((await app.db.knex('consents').where({ id: row.id }).first()).status).to.equal('revoked');
    } finally {
      await context.close();
    }
  });

  it('email-me-my-link page and the 404 page are accessible', async () => {
    const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
    const page = await context.newPage();
    try {
      await page.goto(`${app.base}/preferences`);
      await expectAccessible(page, 'request link');
      await shot(page, 'request-link');
      await page.getByLabel('Email address').fill('someone@example.com');
      await page.getByRole('button', { name: 'Email me a link' }).click();
      expect(await page.textContent('main')).to.include('a link to your preferences is on its way');
      await expectAccessible(page, 'request link sent');
      const res = await page.goto(`${app.base}/u/not-a-token`);
      expect(res?.status()).to.equal(404);
      await expectAccessible(page, 'not found');
      await shot(page, 'not-found');
    } finally {
      await context.close();
    }
  });
});
