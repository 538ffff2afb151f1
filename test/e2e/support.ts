// The real app on a real database (PGlite in memory, or a fresh PostgreSQL database when
// DATABASE_URL is set) behind a real socket, driven by Debian's Chromium through playwright-core.
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { expect } from 'chai';
import { type Browser, type BrowserContextOptions, chromium, type Locator, type Page } from 'playwright-core';
import request from 'supertest';
import { migrateLatest } from '../../db/migrate.ts';
import { createApp } from '../../server/app.ts';
import { testConfig } from '../support/app.ts';
import { freshDb } from '../support/db.ts';

export const SHOTS = path.resolve(import.meta.dirname, 'screenshots');
mkdirSync(SHOTS, { recursive: true });

export async function startApp(env: Record<string, string> = {}) {
  const fresh = await freshDb();
  await migrateLatest(fresh.db.knex);
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const app = createApp({
    config: testConfig({ BASE_URL: base, PAGE_RATE_LIMIT: '0', ...env }),
    db: fresh.db,
  });
  server.on('request', app);
  return {
    base,
    app,
    ctx: app.locals.ctx,
    db: fresh.db,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await fresh.drop();
    },
  };
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Zero WCAG 2.1 AA violations, or a failure that names each one and where. */
export async function expectAccessible(page: Page, label: string, opts: { skipFrame?: string } = {}) {
  const builder = new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']);
  // A sandboxed frame runs no script, so axe cannot run in it (and would wait for ever).
  if (opts.skipFrame) builder.exclude(opts.skipFrame);
  const result = await builder.analyze();
  const found = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
  );
  expect(found, `axe on ${label}`).to.deep.equal([]);
}

export async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Reaches the control with Tab alone (as a keyboard user would) and activates it. */
export async function keyboardActivate(page: Page, target: Locator, key: 'Enter' | 'Space' = 'Enter') {
  for (let i = 0; i < 80; i++) {
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) {
      await page.keyboard.press(key);
      return;
    }
    await page.keyboard.press('Tab');
  }
  throw new Error(`could not reach ${target} with the Tab key`);
}

/** The ways a person meets the recipient pages: keyboard only, a 360×740 phone, no JavaScript. */
export type Mode = { name: string; options: BrowserContextOptions; keyboard: boolean; axe: boolean };
export const MODES: Mode[] = [
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
export const KEYBOARD = MODES[0];

/** Activates a submit button as the mode would (Tab and Enter, or a tap) and waits for the next page. */
export async function press(page: Page, mode: Mode, name: RegExp | string) {
  const button = page.getByRole('button', { name });
  const loaded = page.waitForEvent('load');
  if (mode.keyboard) await keyboardActivate(page, button);
  else await button.click();
  await loaded;
}

/** The check's reason for marketing email to this address (what the test expects to have changed). */
export async function emailReason(
  app: { app: Parameters<typeof request>[0] },
  auth: string,
  recipient: string,
  topic: string,
) {
  const res = await request(app.app)
    .post('/api/v1/send-permission')
    .set('Authorization', auth)
    .send({ channel: 'email', recipient, topic })
    .expect(200);
  return res.body.reason as string;
}
