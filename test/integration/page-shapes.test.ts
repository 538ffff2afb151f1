// Recipient pages filled from a kept shape (server/http/page-shapes.ts) are the pages the
// template renders. Two apps share one database and one clock: the first keeps shapes, as
// production does; the second renders every page whole. For each state a page can show, a first
// person's visits teach the first app the shape, and a second person's page (other address,
// name, time zone, token) must then come out of it byte for byte as the second app renders it.
import { expect } from 'chai';
import request from 'supertest';
import { suppressIn } from '../../server/contacts/service.ts';
import type { PageShapes } from '../../server/http/page-shapes.ts';
import { signToken } from '../../server/tokens/tokens.ts';
import { apiKeyFor, type TestApp, testApp } from '../support/app.ts';

const DAY = 24 * 3600_000;

describe('recipient pages filled from a kept shape', () => {
  const at = new Date(Date.now() + 60_000);
  let kept: TestApp;
  let whole: TestApp;
  let auth: string;
  before(async () => {
    kept = await testApp({ now: () => at });
    whole = await testApp({ db: kept.db, now: () => at });
    whole.app.disable('view cache');
    auth = (await apiKeyFor(kept)).auth;
  });
  const shapes = () => kept.app.get('page shapes') as PageShapes;

  let n = 0;
  /** A new contact in the given state; the address carries characters HTML escapes. */
  async function person(state: {
    name?: string;
    locale?: string;
    timeZone?: string;
    paused?: boolean;
    off?: 'topic' | 'all';
    suppressed?: boolean;
  }) {
    n++;
    const email = `&o'neil.${Math.random().toString(36).slice(2, 8)}@n${n}.example.com`;
    const res = await request(kept.app)
      .put(`/api/v1/contacts/${encodeURIComponent(email)}`)
      .set('Authorization', auth)
      .send({
        name: state.name ?? null,
        locale: state.locale ?? null,
        timeZone: state.timeZone ?? null,
        pausedUntil: state.paused ? new Date(at.getTime() + (30 + n) * DAY).toISOString() : null,
      })
      .expect((r) => expect(r.status, JSON.stringify(r.body)).to.be.oneOf([200, 201]));
    expect(res.body.email).to.equal(email);
    const { id } = await kept.db.knex('contacts').where({ email }).first('id');
    if (state.off)
      await request(kept.app)
        .post(`/api/v1/contacts/${encodeURIComponent(email)}/unsubscribe`)
        .set('Authorization', auth)
        .send(state.off === 'topic' ? { topic: 'newsletter', channel: 'email' } : { channel: 'email' })
        .expect(200);
    if (state.suppressed)
      await kept.db.knex.transaction((trx) =>
        suppressIn(kept.ctx, trx, { actor: 'system' }, { email, contactId: id, reason: 'bounce' }),
      );
    return id;
  }
  const keys = () => kept.ctx.config.tokenKeys;
  const unsubscribePath = (id: string, topic: string) =>
    `/u/${signToken(keys(), { purpose: 'unsubscribe', contactId: id, topic })}`;
  const preferencesPath = (id: string) =>
    `/preferences/${signToken(keys(), { purpose: 'preferences', contactId: id, topic: null })}`;

  async function same(first: string, second: string, query = '') {
    // The first person's two visits: the shape is seen, then kept.
    await request(kept.app)
      .get(first + query)
      .expect(200);
    await request(kept.app)
      .get(first + query)
      .expect(200);
    const before = shapes().counts.filled;
    const filled = await request(kept.app)
      .get(second + query)
      .expect(200);
    expect(shapes().counts.filled, 'the second person was served from the kept shape').to.equal(before + 1);
    const rendered = await request(whole.app)
      .get(second + query)
      .expect(200);
    expect(filled.text).to.equal(rendered.text);
    expect(filled.headers['content-type']).to.equal(rendered.headers['content-type']);
    return filled.text;
  }

  const unsubscribeStates = {
    subscribed: {},
    'unsubscribed from the topic': { off: 'topic' },
    'unsubscribed from all marketing': { off: 'all' },
    paused: { paused: true, timeZone: 'America/New_York' },
    suppressed: { suppressed: true },
    'in Spanish': { locale: 'es' },
  } as const;
  for (const [label, state] of Object.entries(unsubscribeStates)) {
    it(`/u: ${label}`, async () => {
      const html = await same(
        unsubscribePath(await person(state), 'newsletter'),
        unsubscribePath(await person(state), 'newsletter'),
      );
      // The second person's own address is on it (escaped, masked), not the first one's.
      expect(html).to.include(`&amp;•••@n${n}.example.com`);
      expect(html).not.to.include(`@n${n - 1}.example.com`);
    });
  }

  it('/u: an operational topic, and the language switch', async () => {
    await same(unsubscribePath(await person({}), 'account'), unsubscribePath(await person({}), 'account'));
    await same(
      unsubscribePath(await person({}), 'newsletter'),
      unsubscribePath(await person({}), 'newsletter'),
      '?lang=es',
    );
  });

  it('/preferences: names with markup, a time zone, a pause, no name, Spanish', async () => {
    const html = await same(
      preferencesPath(await person({ name: `Ann "A" <b>O'Hara</b> & co`, timeZone: 'Europe/Madrid' })),
      preferencesPath(await person({ name: `Bo <i>Chen</i> & "sons"`, timeZone: 'Asia/Tokyo' })),
    );
    expect(html).to.include('Bo &lt;i&gt;Chen&lt;/i&gt; &amp; &#34;sons&#34;');
    expect(html).to.include('Asia/Tokyo');
    expect(html).not.to.include('Hara');
    // No name is its own shape: the page has no "name ·" before the lead.
    await same(preferencesPath(await person({})), preferencesPath(await person({})));
    await same(
      preferencesPath(await person({ paused: true, timeZone: 'America/Chicago' })),
      preferencesPath(await person({ paused: true, timeZone: 'America/Denver' })),
    );
    await same(
      preferencesPath(await person({ locale: 'es' })),
      preferencesPath(await person({ locale: 'es' })),
    );
    await same(preferencesPath(await person({ off: 'all' })), preferencesPath(await person({ off: 'all' })));
  });
});
