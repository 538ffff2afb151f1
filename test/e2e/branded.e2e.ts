// The recipient side as a company puts its name on it, in each mode a person may use: keyboard
// only on a desktop, a 360×740 phone, and JavaScript off. axe must find nothing, whatever the
// brand colour (gold here: the page darkens it until it reads).
import { expect } from 'chai';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import request from 'supertest';
import { upsertContact } from '../../server/contacts/service.ts';
import { unsubscribeUrl } from '../../server/tokens/tokens.ts';
import { apiKeyFor, uniqueEmail } from '../support/app.ts';
import { expectAccessible, keyboardActivate, launch, shot, startApp } from './support.ts';

const system = { actor: 'system' as const };
type Mode = { name: string; options: BrowserContextOptions; keyboard: boolean; axe: boolean };
const MODES: Mode[] = [
  {
    name: 'desktop-keyboard',
    options: { viewport: { width: 1280, height: 900 } },
    keyboard: true,
    axe: true,
  },
  {
    name: 'phone',
    options: { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true },
    keyboard: false,
    axe: true,
  },
  {
    name: 'no-js',
    options: { viewport: { width: 360, height: 740 }, javaScriptEnabled: false },
    keyboard: false,
    axe: false,
  },
];

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

  const check = async (recipient: string, topic: string) =>
    (
      await request(app.app)
        .post('/api/v1/send-permission')
        .set('Authorization', checkAuth)
        .send({ channel: 'email', recipient, topic })
        .expect(200)
    ).body.reason;

  async function press(page: Page, mode: Mode, name: RegExp | string) {
    const button = page.getByRole('button', { name });
    const loaded = page.waitForEvent('load');
    if (mode.keyboard) await keyboardActivate(page, button);
    else await button.click();
    await loaded;
  }
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
      await press(page, { name: 'k', options: {}, keyboard: true, axe: true }, 'Darme de baja de «Boletín»');
      expect(await page.getAttribute('html', 'lang')).to.equal('es');
      expect((await app.db.knex('contacts').where({ id: contact.id }).first()).locale).to.equal('en');
    } finally {
      await context.close();
    }
  });
});
