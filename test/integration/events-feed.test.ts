// GET /api/v1/events as a feed (SPEC "Ledger"): every event carries a cursor handed out at commit,
// so a consumer that always passes the cursor of the last event it received sees every committed
// event exactly once, whatever commits concurrently, each contact's events in order.
import { expect } from 'chai';
import request from 'supertest';
import { upsertContact } from '../../server/contacts/service.ts';
import { runImportJob } from '../../server/imports/service.ts';
import { apiKeyFor, type TestApp, testApp, uniqueEmail } from '../support/app.ts';
import { uploadedImport } from '../support/imports.ts';

const system = { actor: 'system' as const };

describe('GET /api/v1/events (the feed)', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t)).auth;
  });
  const feed = async (after?: string, extra = '') => {
    const res = await request(t.app)
      .get(`/api/v1/events?format=ndjson${after ? `&after=${encodeURIComponent(after)}` : ''}${extra}`)
      .set('Authorization', auth)
      .expect(200);
    return res.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  };
  /** The cursor after everything committed so far. */
  const head = async () => {
    let cursor: string | undefined;
    for (;;) {
      const page = await feed(cursor);
      if (!page.length) return cursor;
      cursor = page[page.length - 1].cursor;
    }
  };

  it('gives every event a cursor and the address, and refuses an event id as `after` with an explanation', async () => {
    const start = await head();
    const email = uniqueEmail();
    await upsertContact(t.ctx, system, email, {});
    const [ev] = await feed(start);
    expect(ev).to.include({ type: 'contact.created', email });
    expect(ev.cursor).to.be.a('string');
    const numeric = await request(t.app)
      .get(`/api/v1/events?after=${ev.id}`)
      .set('Authorization', auth)
      .expect(400);
    expect(numeric.body.error.details[0]).to.include({ field: 'after' });
    expect(numeric.body.error.details[0].message).to.match(/cursor/);
    await request(t.app).get('/api/v1/events?after=nonsense').set('Authorization', auth).expect(400);
    await request(t.app).get('/api/v1/events?wait=31').set('Authorization', auth).expect(400);
  });

  it('loses nothing and repeats nothing while 300 unsubscribes and an import commit concurrently, each contact in order', async function () {
    this.timeout(120_000);
    const people = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const email = uniqueEmail('feed');
        return { email, id: (await upsertContact(t.ctx, system, email, {})).contact.id as string };
      }),
    );
    let cursor = await head();
    const seen: { id: number; contactId: string; type: string }[] = [];
    let writing = true;
    const consumer = (async () => {
      // poll exactly as the README says, until the writers are done and the feed is drained
      for (;;) {
        const done = !writing;
        const page = await feed(cursor);
        seen.push(...page);
        if (page.length) cursor = page[page.length - 1].cursor;
        else if (done) return;
      }
    })();
    // three changes per person (all marketing off, a topic back on, off again), all at once
    const api = (email: string, body: object) =>
      request(t.app)
        .post(`/api/v1/contacts/${email}/unsubscribe`)
        .set('Authorization', auth)
        .send(body)
        .expect(200);
    // and an import of 1,000 rows (new contacts, a fifth with opt-outs), at the same time
    const tag = Date.now().toString(36);
    const csv = [
      'email,unsubscribed',
      ...Array.from({ length: 1000 }, (_, i) => `fi${i}.${tag}@feed.example.net,${i % 5 ? '' : '*'}`),
    ];
    const job = await uploadedImport(t.db.knex, `${csv.join('\n')}\n`, 'feed.csv');
    await Promise.all([
      runImportJob(t.ctx, job.id),
      ...people.flatMap((p) => [
        api(p.email, {}),
        api(p.email, { topic: 'newsletter', channel: 'email' }),
        api(p.email, { topic: 'offers' }),
      ]),
    ]);
    writing = false;
    await consumer;
    const imported = await t.db.knex('events').where('actor', `import:${job.id}`).select('id');
    expect(imported.length).to.equal(1000 + 200);
    const seenIds = new Set(seen.map((e) => e.id));
    expect(
      imported.filter((e) => !seenIds.has(Number(e.id))),
      'import events missed',
    ).to.deep.equal([]);

    const ids = new Set(people.map((p) => p.id));
    const mine = seen.filter((e) => ids.has(e.contactId));
    const committed = await t.db
      .knex('events')
      .whereIn('contact_id', [...ids])
      .where('type', 'preference.changed')
      .select('id', 'contact_id');
    expect(mine.map((e) => e.id).sort((a, b) => a - b)).to.deep.equal(
      committed.map((e) => Number(e.id)).sort((a, b) => a - b),
    );
    expect(new Set(seen.map((e) => e.id)).size, 'no event twice').to.equal(seen.length);
    for (const p of people) {
      const order = mine.filter((e) => e.contactId === p.id).map((e) => e.id);
      expect(order, 'a contact’s events in the order they happened').to.deep.equal(
        [...order].sort((a, b) => a - b),
      );
    }
  });

  it('holds an empty answer open with wait= until an event arrives', async function () {
    this.timeout(20_000);
    const start = await head();
    const t0 = Date.now();
    const empty = await feed(start, '&wait=1');
    expect(empty).to.deep.equal([]);
    expect(Date.now() - t0).to.be.at.least(900);
    const email = uniqueEmail('wait');
    const waiting = feed(start, '&wait=10');
    setTimeout(() => {
      upsertContact(t.ctx, system, email, {}).catch(() => {});
    }, 300);
    const t1 = Date.now();
    const got = await waiting;
    expect(Date.now() - t1).to.be.below(8_000);
    expect(got.map((e) => e.email)).to.include(email);
  });
});
