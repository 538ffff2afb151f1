// The console's dashboard against a ledger whose figures are known: opt-outs by topic and
// channel, reasons, a complaint rate from real SendGrid events over real messages, consents
// and pauses, made through the product's own services. A customer administrator sees exactly
// their account's; the roll-up never changes a figure (each event counted once, rolled up or
// live); the owner's totals equal a plain count over the ledger.
import { expect } from 'chai';
import { grantConsent, revokeConsent } from '../../server/consent/service.ts';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import { weekOf } from '../../server/dashboard/rules.ts';
import { dashboardFigures, rollUpLedger } from '../../server/dashboard/service.ts';
import { applySendGridEvent } from '../../server/mail/provider-events.ts';
import { pauseForDays, recordFeedback, setPreferences } from '../../server/preferences/service.ts';
import { type TestApp, testApp, uniqueEmail, uniqueId, uniquePhone } from '../support/app.ts';
import { signedInStaff } from '../support/console.ts';

const system = { actor: 'system' as const };
const provider = { actor: 'provider:sendgrid' as const };

/** The rows of the table that follows the chart headed `title`, as arrays of cell texts. */
function tableAfter(html: string, title: string) {
  const at = html.indexOf(`>${title}</h2>`);
  expect(at, `chart "${title}"`).to.be.greaterThan(-1);
  const table = html.slice(at, html.indexOf('</table>', at));
  const cells = (row: string) =>
    [...row.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((m) => m[1].replace(/<[^>]+>/g, '').trim());
  const rows = [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => cells(m[1]));
  return { head: rows[0], body: rows.slice(1) };
}
const column = (t: { head: string[]; body: string[][] }, name: string) => {
  const i = t.head.indexOf(name);
  return i < 0 ? null : t.body.map((r) => r[i]);
};

describe('console dashboard', function () {
  this.timeout(60_000);
  let t: TestApp;
  const A = uniqueId('dash-a');
  const B = uniqueId('dash-b');
  const ids: Record<string, string> = {};

  async function contact(key: string, account: string) {
    const { contact } = await upsertContact(t.ctx, system, uniqueEmail(key), { accountExternalId: account });
    ids[key] = contact.id as string;
    return contact;
  }
  async function message(contactId: string, topic: string) {
    const [row] = await t.db
      .knex('messages')
      .insert({
        contact_id: contactId,
        to_email: 'someone@example.com',
        from_email: 'news@example.com',
        topic,
        subject: 'Hello',
        status: 'sent',
        transport: 'sendgrid',
      })
      .returning('id');
    return row.id as string;
  }
  let n = 0;
  const sendgrid = (event: string, messageId: string, extra: Record<string, unknown> = {}) =>
    applySendGridEvent(t.ctx, provider, {
      event,
      sg_event_id: `dash-${A}-${n++}`,
      message_id: messageId,
      ...extra,
    });

  before(async () => {
    // An http BASE_URL: the console's cookie is then not Secure-only (supertest speaks http).
    t = await testApp({ env: { BASE_URL: 'http://console.test' } });
    // Whatever earlier files wrote is rolled up first, so the live part holds this file's events
    // alone: a run of every test in one database (the slow ones write over 100,000 events) would
    // otherwise pass the dashboard's live limit, and its figures rightly say they lag.
    await rollUpLedger(t.ctx);
    await upsertAccount(t.ctx, system, A, {
      name: 'Dash A',
      agreement: { status: 'signed', signedAt: new Date('2026-01-02T00:00:00Z'), reference: 'MSA-D' },
    });
    await upsertAccount(t.ctx, system, B, { name: 'Dash B' });
    for (const k of ['a1', 'a2', 'a3', 'a4']) await contact(k, A);
    for (const k of ['b1', 'b2']) await contact(k, B);
    const email = (topic: string | null) => [
      { channel: 'email' as const, topic, status: 'unsubscribed' as const },
    ];
    // A: three leave the newsletter, one leaves all marketing; two say "too many"; one pauses.
    for (const k of ['a1', 'a2', 'a3']) await setPreferences(t.ctx, system, ids[k], email('newsletter'));
    await setPreferences(t.ctx, system, ids.a4, email(null));
    await recordFeedback(t.ctx, { actor: 'recipient' }, ids.a1, 'too_many', 'newsletter');
    await recordFeedback(t.ctx, { actor: 'recipient' }, ids.a2, 'too_many', 'newsletter');
    await pauseForDays(t.ctx, { actor: 'recipient' }, ids.a3, 30, new Date());
    // A: a consent to texts granted and revoked, one to calls granted.
    const phone = uniquePhone();
    await grantConsent(t.ctx, system, ids.a1, { phone, channels: ['sms', 'voice'], method: 'api' });
    await revokeConsent(t.ctx, system, ids.a1, phone, ['sms'], 'api');
    // A: four newsletters delivered (one opened too, one delivered event sent twice), and one
    // of them reported as spam: 1 ÷ 4.
    const messages = [];
    for (const k of ['a1', 'a2', 'a2', 'a3']) messages.push(await message(ids[k], 'newsletter'));
    for (const m of messages) expect(await sendgrid('delivered', m)).to.equal('applied');
    await sendgrid('open', messages[0]);
    await sendgrid('delivered', messages[1]); // a second delivered event: not a second delivery
    await sendgrid('spamreport', messages[1], {
      email: (await t.db.knex('contacts').where({ id: ids.a2 }).first()).email,
    });
    // An operational message delivered is not marketing: not in the rate.
    await sendgrid('delivered', await message(ids.a4, 'account'));
    // B: two leave offers, one says "not relevant".
    for (const k of ['b1', 'b2']) await setPreferences(t.ctx, system, ids[k], email('offers'));
    await recordFeedback(t.ctx, { actor: 'recipient' }, ids.b1, 'not_relevant', 'offers');
  });

  it("shows a customer administrator exactly their account's figures, as charts with tables", async () => {
    const s = await signedInStaff(t, 'customer_admin', A);
    const page = await s.agent.get('/admin').expect(200);
    const html = page.text;
    expect(html).to.include('Figures for your account');
    // their own account and its agreement, first
    expect(html).to.include('Your account: Dash A');
    expect(html).to.include('Agreement: <strong>signed</strong> on 2026-01-02, reference MSA-D.');
    const optOuts = tableAfter(html, 'Opt-outs per week, by topic and channel');
    const thisWeek = optOuts.body.length - 1;
    expect(column(optOuts, 'Newsletter by email')?.[thisWeek]).to.equal('3');
    expect(column(optOuts, 'all marketing by email')?.[thisWeek]).to.equal('1');
    expect(column(optOuts, 'Offers and promotions by email'), "B's opt-outs").to.equal(null);
    const reasons = tableAfter(html, 'Reasons given for leaving');
    expect(column(reasons, 'Too many emails')?.[thisWeek]).to.equal('2');
    expect(column(reasons, 'Not relevant'), "B's reason").to.equal(null);
    const complaints = tableAfter(html, 'Spam-complaint rate per week');
    expect(complaints.body[thisWeek]).to.deep.equal([complaints.body[thisWeek][0], '1', '4', '25.00 %']);
    const consents = tableAfter(html, 'Consents to be called or texted, granted and revoked');
    expect(consents.body[thisWeek].slice(1)).to.deep.equal(['2', '1']);
    const suppressions = tableAfter(html, 'Suppressions by reason');
    expect(column(suppressions, 'Spam complaint')?.[thisWeek]).to.equal('1');
    const pauses = tableAfter(html, 'Pauses started and ended');
    expect(pauses.body[thisWeek].slice(1)).to.deep.equal(['1', '0']);
    // Each chart is an SVG image with a title and a summary, and the page runs no script.
    expect(html.match(/<svg class="chart"[^>]*role="img"/g)).to.have.length(6);
    expect(html).to.include(
      '4 opt-outs in the last 12 weeks, 4 this week. The most: Newsletter by email (3).',
    );
    expect(html, 'no inline script: the charts need none').not.to.match(/<script(?![^>]*\bsrc=)/i);
    // Their health panel shows their imports, not the operator's outbox or queues.
    expect(html).to.include('Imports');
    expect(html).not.to.include('Outbox');
  });

  it('counts each event once, rolled up or live, however often the roll-up runs', async () => {
    const before = await dashboardFigures(t.ctx, null, new Date());
    await rollUpLedger(t.ctx);
    const after = await dashboardFigures(t.ctx, null, new Date());
    await rollUpLedger(t.ctx);
    const again = await dashboardFigures(t.ctx, null, new Date());
    expect(after.counts).to.deep.equal(before.counts);
    expect(again.counts).to.deep.equal(before.counts);
    expect(after.live).to.equal(0);
    // A new opt-out after the roll-up shows at once (live), and once.
    const { contact: late } = await upsertContact(t.ctx, system, uniqueEmail('late'), {
      accountExternalId: A,
    });
    await setPreferences(t.ctx, system, late.id as string, [
      { channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
    ]);
    const account = (await t.db.knex('accounts').where({ external_id: A }).first()).id;
    const mine = await dashboardFigures(t.ctx, account, new Date());
    const week = weekOf(new Date());
    const newsletter = mine.counts.find(
      (c) => c.week === week && c.metric === 'opt_out' && c.topic === 'newsletter' && c.channel === 'email',
    );
    expect(newsletter?.n).to.equal(4);
    await rollUpLedger(t.ctx);
    const rolled = await dashboardFigures(t.ctx, account, new Date());
    expect(rolled.counts).to.deep.equal(mine.counts);
  });

  it("gives the owner every account's figures, equal to a plain count over the ledger", async () => {
    const week = weekOf(new Date());
    const figures = await dashboardFigures(t.ctx, null, new Date());
    const sum = (metric: string) =>
      figures.counts.filter((c) => c.week === week && c.metric === metric).reduce((a, c) => a + c.n, 0);
    const since = new Date(`${week}T00:00:00Z`);
    const ledger = async (
      where: Record<string, string>,
      extra?: (q: ReturnType<TestApp['db']['knex']>) => void,
    ) => {
      const q = t.db.knex('events').where(where).where('occurred_at', '>=', since);
      extra?.(q);
      return Number((await q.count({ n: '*' }))[0].n);
    };
    expect(sum('opt_out')).to.equal(await ledger({ type: 'preference.changed', new_value: 'unsubscribed' }));
    expect(sum('reason')).to.equal(await ledger({ type: 'preference.feedback' }));
    expect(sum('consent_revoked')).to.equal(await ledger({ type: 'consent.revoked' }));
    expect(sum('suppression')).to.equal(await ledger({ type: 'suppression.added' }));
    const s = await signedInStaff(t, 'owner');
    const page = await s.agent.get('/admin').expect(200);
    expect(page.text).to.include('Figures for every account');
    const optOuts = tableAfter(page.text, 'Opt-outs per week, by topic and channel');
    expect(optOuts.head).to.include('Offers and promotions by email');
    // The operator's health panel and its compliance warnings.
    for (const name of [
      'Outbox',
      'Job queue',
      'Opt-outs received, not yet applied',
      'Events feed',
      'Dashboard figures',
    ])
      expect(page.text).to.include(`<th scope="row">${name}</th>`);
  });

  it('warns owners of what the law and the mailbox providers expect', async () => {
    const s = await signedInStaff(t, 'owner');
    const page = await s.agent.get('/admin').expect(200);
    // The test configuration has an http BASE_URL and no postal address.
    expect(page.text).to.include('Needs attention');
    expect(page.text).to.include('BASE_URL is http');
    expect(page.text).to.include('No postal address is set');
  });

  it('is the first page after sign-in, and staff without a role for it are turned away', async () => {
    const s = await signedInStaff(t, 'staff');
    const login = await s.agent.get('/admin/login');
    expect(login.status).to.equal(303);
    expect(login.headers.location).to.equal('/admin');
    const page = await s.agent.get('/admin').expect(200);
    expect(page.text).to.match(/<a href="\/admin" aria-current="page">Dashboard<\/a>/);
  });
});
