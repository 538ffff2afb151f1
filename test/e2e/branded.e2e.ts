// The recipient side as a company puts its name on it, in each mode a person may use: keyboard
// only on a desktop, a 360×740 phone, and JavaScript off. axe must find nothing, whatever the
// brand colour (gold here: the page darkens it until it reads).
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { preferencesUrl, unsubscribeUrl } from '../../server/tokens/tokens.ts';
import { apiKeyFor, uniqueEmail } from '../support/app.ts';
import {
  emailReason,
  expectAccessible,
  KEYBOARD,
  keyboardActivate,
  launch,
  MODES,
  press,
  shot,
  startApp,
} from './support.ts';

const system = { actor: 'system' as const };

describe('branded recipient pages in Chromium', () => {
  let app: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser;
  let checkAuth: string;
  before(async () => {
    app = await startApp({
      BRAND_NAME: 'Montra Technologies',
      BRAND_COLOR: '#ffd700',
      BRAND_POSTAL_ADDRESS: '500 Market St, Suite 200, San Francisco, CA 94105',
      BRAND_PRIVACY_URL: 'https://montra.example/privacy',
      SUPPORT_CONTACT: 'help@montra.example',
    });
    browser = await launch();
    checkAuth = (await apiKeyFor(app, ['check'])).auth;
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  const check = (recipient: string, topic: string) => emailReason(app, checkAuth, recipient, topic);

  const h1 = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

  for (const mode of MODES) {
    it(`home page, leaving a topic and the next, Resubscribe, a pause and its end (${mode.name})`, async () => {
      const email = uniqueEmail('brand');
      const { contact } = await upsertContact(app.ctx, system, email, { name: 'Bea Brand' });
      const link = unsubscribeUrl(app.base, app.ctx.config.tokenKeys, contact.id, 'newsletter');
      const context = await browser.newContext(mode.options);
      const page = await context.newPage();
      try {
        await page.goto(`${app.base}/`);
        expect(await h1(page)).to.equal('Email preferences for Montra Technologies');
        expect(await page.title()).to.include('Montra Technologies');
        expect(await page.textContent('footer')).to.include('500 Market St');
        if (mode.axe) await expectAccessible(page, `home (${mode.name})`);
        await shot(page, `brand-home-${mode.name}`);

        await page.goto(link);
        if (mode.axe) await expectAccessible(page, `branded unsubscribe (${mode.name})`);
        await shot(page, `brand-unsubscribe-${mode.name}`);
        await press(page, mode, 'Unsubscribe from “Newsletter”');
        expect(await page.textContent('main')).to.include('Still coming to');
        if (mode.axe) await expectAccessible(page, `still coming (${mode.name})`);
        await shot(page, `brand-still-coming-${mode.name}`);
        await press(page, mode, 'Leave “Offers and promotions” too');
        expect(await check(email, 'offers')).to.equal('unsubscribed_topic');

        await page.goto(link);
        expect(await h1(page)).to.equal('You are unsubscribed');
        expect(await page.textContent('main')).to.include('You are unsubscribed from “Newsletter”');
        if (mode.axe) await expectAccessible(page, `unsubscribed state (${mode.name})`);
        await shot(page, `brand-unsubscribed-state-${mode.name}`);
        await press(page, mode, 'Resubscribe');
        expect(await h1(page)).to.equal('Welcome back');
        expect(await check(email, 'newsletter')).to.equal('subscribed');

        await page.goto(link);
        await press(page, mode, 'Pause for 30 days');
        expect(await h1(page)).to.equal('Marketing email paused');
        expect(await check(email, 'newsletter')).to.equal('paused');
        if (mode.axe) await expectAccessible(page, `paused (${mode.name})`);
        await shot(page, `brand-paused-${mode.name}`);
        await page.goto(link);
        expect(await h1(page)).to.equal('Marketing email paused');
        expect(await page.textContent('main')).to.include('is paused until');
        if (mode.axe) await expectAccessible(page, `paused state (${mode.name})`);
        await shot(page, `brand-paused-state-${mode.name}`);
        await press(page, mode, 'Resubscribe');
        expect(await check(email, 'newsletter')).to.equal('subscribed');
      } finally {
        await context.close();
      }
    });
  }

  it('switches language with the keyboard alone, on the page, without saving anything', async () => {
    const email = uniqueEmail('brand');
    const { contact } = await upsertContact(app.ctx, system, email, { locale: 'en' });
    const link = unsubscribeUrl(app.base, app.ctx.config.tokenKeys, contact.id, 'newsletter');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      await page.goto(link);
      const loaded = page.waitForEvent('load');
      await keyboardActivate(page, page.getByRole('link', { name: 'Español' }));
      await loaded;
      expect(await h1(page)).to.equal('Darse de baja');
      await expectAccessible(page, 'spanish unsubscribe');
      await shot(page, 'brand-unsubscribe-es');
      await press(page, KEYBOARD, 'Darme de baja de «Boletín»');
      expect(await page.getAttribute('html', 'lang')).to.equal('es');
      expect((await app.db.knex('contacts').where({ id: contact.id }).first()).locale).to.equal('en');
    } finally {
      await context.close();
    }
  });

  it('data requests: a copy by mailed link, and deletion asked, confirmed and declined (keyboard, then a phone)', async () => {
    await app.ctx.jobs.start({ work: true });
    const account = `acct-${Date.now()}`;
    await upsertAccount(app.ctx, system, account, {});
    const email = uniqueEmail('data');
    const { contact } = await upsertContact(app.ctx, system, email, {
      name: 'Dee Data',
      accountExternalId: account,
    });
    const prefs = preferencesUrl(app.base, app.ctx.config.tokenKeys, contact.id);
    const mailed = async (subject: RegExp) => {
      for (let i = 0; i < 250; i++) {
        const rows = await app.db
          .knex('messages')
          .where({ contact_id: contact.id })
          .orderBy('created_at', 'desc');
        const m = rows.find((r) => subject.test(r.subject));
        if (m) return /(http:\/\/\S+\/data\/\S+)/.exec(m.text)?.[1] as string;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('no mail');
    };
    const keyboard = KEYBOARD;
    const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const phone = await browser.newContext({
      viewport: { width: 360, height: 740 },
      isMobile: true,
      hasTouch: true,
    });
    try {
      const page = await desktop.newPage();
      await page.goto(prefs);
      await press(page, keyboard, 'Email me a copy of my data');
      expect(await h1(page)).to.equal('Check your inbox');
      const link = await mailed(/Your data at/);
      const onPhone = await phone.newPage();
      await onPhone.goto(link);
      expect(await h1(onPhone)).to.equal('Download your data');
      await expectAccessible(onPhone, 'data download page');
      await shot(onPhone, 'data-download-phone');
      const download = onPhone.waitForEvent('download');
      await onPhone.getByRole('button', { name: 'Download my data' }).click();
      expect((await download).suggestedFilename()).to.equal('my-data.json');

      await page.goto(prefs);
      await press(page, keyboard, 'Ask for my data to be deleted');
      const confirm = await mailed(/Confirm your deletion request/);
      await onPhone.goto(confirm);
      await expectAccessible(onPhone, 'deletion confirmation page');
      await shot(onPhone, 'data-delete-confirm-phone');
      await press(
        onPhone,
        { name: 'p', options: {}, keyboard: false, axe: true },
        'Yes, ask for my data to be deleted',
      );
      expect(await h1(onPhone)).to.equal('Your request is waiting for a decision');

      // the other side: an owner in the console declines it with a reason
      const { createStaffUser } = await import('../../server/admin/staff.ts');
      const owner = uniqueEmail('owner');
      await createStaffUser(app.db.knex, app.ctx.ledger, system, {
        email: owner,
        password: 'correct horse battery staple',
        role: 'owner',
      });
      await page.goto(`${app.base}/admin/login`);
      await page.getByLabel('Email').fill(owner);
      await page.getByLabel('Password').fill('correct horse battery staple');
      await press(page, keyboard, 'Sign in');
      await page.goto(`${app.base}/admin/data-requests`);
      expect(await page.textContent('main')).to.include(email);
      await expectAccessible(page, 'console data requests');
      await shot(page, 'console-data-requests');
      await page
        .getByLabel('Reason for declining (sent to the person)')
        .fill('Payroll records are kept 4 years.');
      await press(page, keyboard, 'Decline');
      expect(await page.textContent('main')).to.include('Declined');
    } finally {
      await desktop.close();
      await phone.close();
      await app.ctx.jobs.stop();
    }
  });
});
