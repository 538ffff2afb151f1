// The console's outbox: paged newest first without gaps or repeats, searched by the start of
// an address, and a message's HTML previewed in a sandbox that runs no script and loads nothing.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { upsertAccount } from '../../server/contacts/service.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { signedInStaff } from '../support/console.ts';

describe('console outbox', function () {
  this.timeout(60_000);
  let t: TestApp;
  const tag = `outbox-${randomBytes(4).toString('hex')}`;
  const ids: string[] = [];

  before(async () => {
    t = await testApp({ env: { BASE_URL: 'http://console.test' } });
    const start = Date.parse('2026-11-20T10:00:00Z');
    // 120 messages, some sharing a second (the page's place is time and id, so none is lost).
    for (let i = 0; i < 120; i++) {
      const [row] = await t.db
        .knex('messages')
        .insert({
          to_email: `${tag}-${String(i).padStart(3, '0')}@example.com`,
          from_email: 'news@example.com',
          topic: 'newsletter',
          subject: `Issue ${i}`,
          status: 'sent',
          transport: 'outbox',
          html:
            i === 0
              ? '<p id="state">not run</p><script>document.getElementById("state").textContent="ran"</script><img src="https://tracker.invalid/p.gif">'
              : null,
          created_at: new Date(start + Math.floor(i / 3) * 1000),
        })
        .returning('id');
      ids.push(row.id);
    }
  });

  it('pages through every message to a searched address once, newest first, 50 at a time', async () => {
    const s = await signedInStaff(t, 'staff');
    const seen: string[] = [];
    let href: string | null = `/admin/outbox?to=${tag.toUpperCase()}`; // any case
    let pages = 0;
    while (href) {
      const page: { text: string } = await s.agent.get(href).expect(200);
      const subjects = [...page.text.matchAll(/>Issue (\d+)</g)].map((m) => Number(m[1]));
      expect(subjects.length).to.be.at.most(50);
      seen.push(...subjects.map(String));
      const older: string | undefined = /<a href="([^"]+)">Older messages<\/a>/.exec(page.text)?.[1];
      href = older ? older.replace(/&amp;/g, '&') : null;
      pages++;
    }
    expect(pages).to.equal(3);
    expect(seen).to.have.length(120);
    expect(new Set(seen).size).to.equal(120);
    const numbers = seen.map(Number);
    expect(numbers[0]).to.be.greaterThan(numbers[119]); // newest first
  });

  it('says plainly when nothing matches, and refuses a damaged page link with a 400', async () => {
    const s = await signedInStaff(t, 'staff');
    const none = await s.agent.get(`/admin/outbox?to=${tag}-nobody`).expect(200);
    expect(none.text).to.include('No message to such an address.');
    const bad = await s.agent.get('/admin/outbox?before=yesterday').expect(400);
    expect(bad.text).to.include('That page link is damaged');
  });

  it('previews the HTML in a sandbox: no script, nothing loaded from elsewhere, framed only by the console', async () => {
    const s = await signedInStaff(t, 'staff');
    const detail = await s.agent.get(`/admin/outbox/${ids[0]}`).expect(200);
    expect(detail.text).to.match(
      /<iframe class="preview" sandbox src="\/admin\/outbox\/[0-9a-f-]+\/preview"/,
    );
    const preview = await s.agent.get(`/admin/outbox/${ids[0]}/preview`).expect(200);
    const csp = String(preview.headers['content-security-policy']);
    expect(csp).to.match(/(^|; )sandbox(;|$)/);
    expect(csp).to.include("default-src 'none'");
    expect(csp).to.include('img-src data:');
    expect(csp).to.include("frame-ancestors 'self'");
    expect(csp).not.to.match(/script-src|unsafe-eval/);
    expect(preview.text).to.include('<p id="state">not run</p>');
    await upsertAccount(t.ctx, { actor: 'system' }, 'acme-outbox', { name: 'Acme' });
    const admin = await signedInStaff(t, 'customer_admin', 'acme-outbox');
    await admin.agent.get(`/admin/outbox/${ids[0]}/preview`).expect(403);
  });
});
