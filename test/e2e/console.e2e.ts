import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Browser, Page } from 'playwright-core';
import { hashPassword } from '../../server/admin/passwords.ts';
import { createStaffUser } from '../../server/admin/staff.ts';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { recordFeedback, setPreferences } from '../../server/preferences/service.ts';
import { uniqueEmail, uniquePhone } from '../support/app.ts';
import { expectAccessible, keyboardActivate, launch, SHOTS, shot, startApp } from './support.ts';

const system = { actor: 'system' as const };
const PASSWORD = 'correct horse battery staple';

describe('admin console in Chromium', () => {
  let app: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser;
  const owner = uniqueEmail('owner');
  const tenant = uniqueEmail('tenant');
  let mine: { email: string; id: string };
  let theirs: { email: string; id: string };

  before(async () => {
    app = await startApp();
    browser = await launch();
    for (const [ext, status] of [
      ['acme', 'signed'],
      ['globex', 'none'],
    ] as const) {
      await upsertAccount(app.ctx, system, ext, {
        name: ext.toUpperCase(),
        agreement:
          status === 'signed'
            ? { status, signedAt: new Date('2026-01-05T00:00:00Z'), reference: 'MSA-1' }
            : { status, signedAt: null, reference: null },
      });
    }
    const a = await upsertContact(app.ctx, system, uniqueEmail('ann'), {
      name: 'Ann Acme',
      accountExternalId: 'acme',
    });
    const b = await upsertContact(app.ctx, system, uniqueEmail('bob'), {
      name: 'Bob Globex',
      accountExternalId: 'globex',
    });
    mine = { email: a.contact.email, id: a.contact.id };
    // Something for the dashboard to draw: people leaving, and saying why.
    for (let i = 0; i < 6; i++) {
      const { contact } = await upsertContact(app.ctx, system, uniqueEmail('leaver'), {
        accountExternalId: i % 2 ? 'acme' : 'globex',
      });
      await setPreferences(app.ctx, { actor: 'recipient' }, contact.id, [
        { channel: 'email', topic: i % 3 ? 'newsletter' : null, status: 'unsubscribed' },
      ]);
      await recordFeedback(
        app.ctx,
        { actor: 'recipient' },
        contact.id,
        i % 2 ? 'too_many' : 'not_relevant',
        'newsletter',
      );
    }
    theirs = { email: b.contact.email, id: b.contact.id };
    await createStaffUser(app.db.knex, app.ctx.ledger, system, {
      email: owner,
      password: PASSWORD,
      role: 'owner',
    });
    await createStaffUser(app.db.knex, app.ctx.ledger, system, {
      email: tenant,
      password: PASSWORD,
      role: 'customer_admin',
      accountExternalId: 'acme',
    });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  /** Signs in with the keyboard only: type, Tab, Enter. */
  async function signIn(page: Page, email: string) {
    await page.goto(`${app.base}/admin/login`);
    await expectAccessible(page, 'login');
    await keyboardActivate(page, page.getByLabel('Email'), 'Enter').catch(() => {});
    await page.getByLabel('Email').focus();
    await page.keyboard.type(email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    const loaded = page.waitForEvent('load');
    await page.keyboard.press('Enter');
    await loaded;
    expect(page.url()).to.match(/\/admin$/); // the dashboard first
  }

  it('owner: find a contact, read the history, record consent on behalf, export CSV; every page accessible', async () => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    try {
      await signIn(page, owner);
      await shot(page, 'console-login-done');
      let loaded = page.waitForEvent('load');
      await keyboardActivate(page, page.getByRole('link', { name: 'Contacts' }));
      await loaded;
      await page.getByLabel(/^Email, name, phone/).fill(mine.email);
      loaded = page.waitForEvent('load');
      await keyboardActivate(page, page.getByRole('button', { name: 'Search' }));
      await loaded;
      await expectAccessible(page, 'contacts search');
      await shot(page, 'console-contacts');
      loaded = page.waitForEvent('load');
      await keyboardActivate(page, page.getByRole('link', { name: mine.email }));
      await loaded;
      expect(await page.textContent('#history + .table-wrap, section[aria-labelledby="history"]')).to.include(
        'Contact created',
      );
      await expectAccessible(page, 'contact detail');

      const phone = uniquePhone();
      await page.getByLabel('Phone number').fill(phone);
      await page.getByRole('checkbox', { name: 'Text messages' }).check();
      await page.getByLabel('How was consent given?').selectOption('verbal');
      await page.getByLabel(/Note \(required\)/).fill('Phone call with Ann, ticket 123');
      loaded = page.waitForEvent('load');
      await page.getByRole('button', { name: 'Record consent' }).click();
      await loaded;
      const consents = await page.textContent('section[aria-labelledby="consents"]');
      expect(consents).to.include(phone);
      expect(consents).to.include('Phone call with Ann, ticket 123');
      expect(await page.textContent('section[aria-labelledby="history"]')).to.include('Consent given');
      await expectAccessible(page, 'contact after consent');
      await shot(page, 'console-contact');

      for (const [path, name] of [
        ['/admin/forgot', 'forgot'],
        ['/admin/contacts/new', 'contact-new'],
        [`/admin/contacts/${mine.id}/edit`, 'contact-edit'],
        ['/admin/accounts', 'accounts'],
        ['/admin/topics', 'topics'],
        ['/admin/outbox', 'outbox'],
        ['/admin/import', 'import'],
        ['/admin/exports', 'exports'],
        ['/admin/api-keys', 'api-keys'],
        ['/admin/staff', 'staff'],
      ]) {
        await page.goto(`${app.base}${path}`);
        await expectAccessible(page, name);
        await shot(page, `console-${name}`);
      }

      await page.goto(`${app.base}/admin/exports`);
      const downloading = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Download events' }).click();
      const download = await downloading;
      expect(download.suggestedFilename()).to.match(/^events-\d{4}-\d{2}-\d{2}\.csv$/);
      const rows = parseCsv(await readFile(await download.path()), { columns: true }) as {
        contactId: string;
        type: string;
        actor: string;
      }[];
      expect(
        rows.some(
          (r) => r.contactId === mine.id && r.type === 'consent.granted' && r.actor.startsWith('staff:'),
        ),
      ).to.equal(true);
    } finally {
      await context.close();
    }
  });

  for (const [mode, options] of [
    ['desktop', { viewport: { width: 1280, height: 900 } }],
    ['phone', { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true }],
    ['no-js', { viewport: { width: 360, height: 740 }, javaScriptEnabled: false }],
  ] as const) {
    it(`dashboard (${mode}): charts drawn without JavaScript, each with its table, no axe violations`, async () => {
      const context = await browser.newContext(options);
      const page = await context.newPage();
      try {
        if (mode === 'desktop') await signIn(page, owner);
        else {
          await page.goto(`${app.base}/admin/login`);
          await page.getByLabel('Email').fill(owner);
          await page.getByLabel('Password').fill(PASSWORD);
          const loaded = page.waitForEvent('load');
          await page.getByRole('button', { name: 'Sign in' }).click();
          await loaded;
        }
        expect(page.url()).to.match(/\/admin$/);
        const charts = page.locator('svg.chart');
        expect(await charts.count()).to.equal(6);
        // Drawn: the opt-out chart has bars, and each chart fits the page's width.
        expect(await page.locator('#optouts-h ~ svg rect').count()).to.be.greaterThan(0);
        const width = (await page.viewportSize())?.width ?? 0;
        for (const box of await Promise.all((await charts.all()).map((c) => c.boundingBox())))
          expect(box?.width ?? 0).to.be.within(100, width);
        expect(
          await page.getByRole('img', { name: 'Opt-outs per week, by topic and channel' }).count(),
        ).to.equal(1);
        // The table alternative opens without JavaScript (a details element).
        await page.getByText('Table: reasons given for leaving').click();
        expect(await page.getByRole('columnheader', { name: 'Too many emails' }).isVisible()).to.equal(true);
        expect(await page.textContent('section[aria-labelledby="health-title"]')).to.include('Outbox');
        if (mode !== 'no-js') await expectAccessible(page, `dashboard ${mode}`);
        await shot(page, `console-dashboard-${mode}`);
        // One chart close up, as the person sees it at this size.
        await page
          .locator('section[aria-labelledby="complaints-h"]')
          .screenshot({ path: `${SHOTS}/console-dashboard-${mode}-complaints.png` });
      } finally {
        await context.close();
      }
    });
  }

  it('outbox: a message previews in a sandbox that runs no script and loads nothing remote', async () => {
    const [row] = await app.db
      .knex('messages')
      .insert({
        to_email: uniqueEmail('preview'),
        from_email: 'news@example.com',
        topic: 'newsletter',
        subject: 'Preview me',
        status: 'sent',
        transport: 'outbox',
        html: '<h1>Hello</h1><p id="state">not run</p><script>document.getElementById("state").textContent = "ran"</script><img alt="pixel" src="https://tracker.invalid/p.gif"><img alt="inline" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">',
      })
      .returning('id');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    // A request the CSP stops never leaves the browser (Chromium reports it failed, "csp");
    // anything else to another host would be a leak.
    const remote: string[] = [];
    const blocked: string[] = [];
    const elsewhere = (url: string) => !url.startsWith(app.base) && !url.startsWith('data:');
    page.on('requestfinished', (r) => {
      if (elsewhere(r.url())) remote.push(r.url());
    });
    page.on('requestfailed', (r) => {
      if (elsewhere(r.url())) (r.failure()?.errorText === 'csp' ? blocked : remote).push(r.url());
    });
    try {
      await signIn(page, owner);
      await page.goto(`${app.base}/admin/outbox?to=preview`);
      await expectAccessible(page, 'outbox search');
      const loaded = page.waitForEvent('load');
      await page.getByRole('link', { name: 'Preview me' }).click();
      await loaded;
      expect(page.url()).to.equal(`${app.base}/admin/outbox/${row.id}`);
      const frame = page.frameLocator('iframe.preview');
      await frame.getByRole('heading', { name: 'Hello' }).waitFor();
      // The page's script would have replaced this text.
      await frame.getByText('not run', { exact: true }).waitFor({ timeout: 5000 });
      expect(await frame.getByText('ran', { exact: true }).count()).to.equal(0);
      expect(remote, 'nothing fetched from elsewhere').to.deep.equal([]);
      expect(blocked).to.deep.equal(['https://tracker.invalid/p.gif']);
      // The message's own markup is the sender's; the console around it is checked.
      await expectAccessible(page, 'message preview', { skipFrame: 'iframe.preview' });
      await shot(page, 'console-message-preview');
    } finally {
      await context.close();
    }
  });

  it('console users: forgot password and the one-time link page, on a phone, accessible', async () => {
    const context = await browser.newContext({
      viewport: { width: 360, height: 740 },
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    try {
      await page.goto(`${app.base}/admin/login`);
      const loaded = page.waitForEvent('load');
      await page.getByRole('link', { name: 'Forgot your password?' }).click();
      await loaded;
      await expectAccessible(page, 'forgot');
      await page.getByLabel('Email').fill(owner);
      await page.getByRole('button', { name: 'Email me a link' }).click();
      await page.getByText('a link to choose a new password is on its way').waitFor();
      await expectAccessible(page, 'forgot sent');
      await shot(page, 'console-forgot-sent');
      const msg = await app.db
        .knex('messages')
        .where({ to_email: owner })
        .orderBy('created_at', 'desc')
        .first();
      const path = new URL(/https?:\/\/\S+\/admin\/welcome\/\S+/.exec(msg.text)?.[0] as string).pathname;
      await page.goto(`${app.base}${path}`);
      await expectAccessible(page, 'welcome');
      await shot(page, 'console-welcome');
      await page.getByLabel('Password', { exact: true }).fill('a new and long passphrase');
      await page.getByLabel('The same password again').fill('a new and long passphrase');
      const set = page.waitForEvent('load');
      await page.getByRole('button', { name: 'Set my password' }).click();
      await set;
      expect(page.url()).to.include('/admin/login?done=password_set');
      expect(await page.getByText('Your password is set').isVisible()).to.equal(true);
      await expectAccessible(page, 'login after reset');
      // put the owner's password back for the other tests
      await app.db
        .knex('staff_users')
        .where({ email: owner })
        .update({ password_hash: await hashPassword(PASSWORD) });
    } finally {
      await context.close();
    }
  });

  it('console pages changed this session, on a phone: accessible, nothing wider than the screen', async () => {
    const [running] = await app.db
      .knex('import_jobs')
      .insert({
        filename: 'migration.csv',
        status: 'running',
        file_bytes: 60_000_000,
        read_bytes: 25_800_000,
        processed_rows: 430_000,
        imported_rows: 429_100,
        failed_rows: 900,
        started_at: new Date(Date.now() - 40_000),
      })
      .returning('id');
    // a file that stopped at a stray quote, after a row refused on its own
    const [stopped] = await app.db
      .knex('import_jobs')
      .insert({
        filename: 'contacts.csv',
        status: 'failed',
        file_bytes: 240,
        read_bytes: 240,
        processed_rows: 3,
        imported_rows: 2,
        failed_rows: 1,
        errors: JSON.stringify([
          { line: 3, message: 'email: not a valid email address', record: { email: 'broken', name: 'Bad' } },
          {
            line: 0,
            message:
              'The import stopped at line 5: a quote in the middle of a value (column "name"). Put a value that holds quotes in quotes and write each of its quotes twice ("Bob ""Q"" Lee").',
          },
        ]),
      })
      .returning('id');
    const context = await browser.newContext({
      viewport: { width: 360, height: 740 },
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    try {
      await page.goto(`${app.base}/admin/login`);
      await page.getByLabel('Email').fill(owner);
      await page.getByLabel('Password').fill(PASSWORD);
      const loaded = page.waitForEvent('load');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await loaded;
      for (const [path, name] of [
        ['/admin/contacts/new', 'contact-new'],
        [`/admin/contacts/${mine.id}`, 'contact'],
        [`/admin/contacts/${mine.id}/edit`, 'contact-edit'],
        ['/admin/staff', 'staff'],
        ['/admin/import', 'import'],
        ['/admin/outbox', 'outbox'],
        ['/admin/exports', 'exports'],
        [`/admin/import/${running.id}`, 'import-running'],
        [`/admin/import/${stopped.id}`, 'import-stopped'],
      ]) {
        await page.goto(`${app.base}${path}`);
        await expectAccessible(page, `${name} on a phone`);
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        expect(wide, `${name} fits 360 px`).to.be.at.most(360);
        await shot(page, `console-${name}-phone`);
      }
      // a million-row import under way: a bar for the share of the file, and the time left
      // (40 s in for 43 % of the file: about 53 s to go)
      await app.db
        .knex('import_jobs')
        .where({ id: running.id })
        .update({ started_at: new Date(Date.now() - 40_000) });
      await page.goto(`${app.base}/admin/import/${running.id}`);
      expect(await page.textContent('main')).to.match(/43 % of the file read, about 5\d s left\./);
      expect(await page.getAttribute('progress', 'value')).to.equal('43');
      // the stopped file's page on a desktop's width too
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.goto(`${app.base}/admin/import/${stopped.id}`);
      expect(await page.textContent('main')).to.include('The file was not read to its end');
      await shot(page, 'console-import-stopped-desktop');
    } finally {
      await context.close();
    }
  });

  it("customer_admin cannot reach another account's contact", async () => {
    const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
    const page = await context.newPage();
    try {
      await signIn(page, tenant);
      expect(await page.textContent('main')).not.to.include(theirs.email);
      const res = await page.goto(`${app.base}/admin/contacts/${theirs.id}`);
      expect(res?.status()).to.equal(404);
      await expectAccessible(page, 'console 404');
      const own = await page.goto(`${app.base}/admin/contacts/${mine.id}`);
      expect(own?.status()).to.equal(200);
      await shot(page, 'console-contact-phone');
      const forbidden = await page.goto(`${app.base}/admin/api-keys`);
      expect(forbidden?.status()).to.equal(403);
    } finally {
      await context.close();
    }
  });
});
