// contacts.optouts is the snapshot of a contact's opt-outs that every check reads; the database
// keeps it from the preference rows, once a statement (preferences_optouts_*), for every writer:
// the services, the import's COPY and SQL typed by hand. These write preference rows directly,
// several contacts and rows a statement, and compare the snapshot with the rows and with what
// the real check answers.
import { expect } from 'chai';
import type { Knex } from 'knex';
import request from 'supertest';
import { keyedHash } from '../../server/keyed-hash.ts';
import { apiKeyFor, type TestApp, testApp, testConfig, uniqueEmail } from '../support/app.ts';

describe('the opt-out snapshot follows every write to preferences', () => {
  let t: TestApp;
  let knex: Knex;
  let auth: string;
  before(async () => {
    t = await testApp();
    knex = t.ctx.db.knex;
    auth = (await apiKeyFor(t, ['check'])).auth;
  });

  async function contact(): Promise<{ id: string; email: string }> {
    const email = uniqueEmail('snapshot');
    const [row] = await knex('contacts')
      .insert({ email, email_hash: keyedHash(testConfig().hashSecret, 'email', email) })
      .returning('id');
    return { id: row.id, email };
  }
  const optouts = async (id: string): Promise<string[]> =>
    (await knex('contacts').where({ id }).first('optouts')).optouts;
  const allowed = async (email: string, topic: string) => {
    const res = await request(t.app)
      .post('/api/v1/send-permission')
      .set('Authorization', auth)
      .send({ channel: 'email', recipient: email, topic });
    expect(res.status).to.equal(200);
    return res.body.allowed as boolean;
  };

  it('inserts of several contacts in one statement, updates, a move between contacts and deletes', async () => {
    const [a, b, c] = [await contact(), await contact(), await contact()];
    // one statement, three contacts, mixed statuses and a channel-wide row
    await knex('preferences').insert([
      { contact_id: a.id, channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
      { contact_id: a.id, channel: 'email', topic: null, status: 'unsubscribed' },
      { contact_id: a.id, channel: 'email', topic: 'offers', status: 'unsubscribed' },
      { contact_id: b.id, channel: 'email', topic: 'newsletter', status: 'subscribed' },
      { contact_id: c.id, channel: 'sms', topic: 'offers', status: 'unsubscribed' },
      { contact_id: c.id, channel: 'email', topic: 'newsletter', status: 'unsubscribed' },
    ]);
    expect(await optouts(a.id)).to.deep.equal(['email:newsletter', 'email:offers', 'email:*']);
    expect(await optouts(b.id)).to.deep.equal([]);
    expect(await optouts(c.id)).to.deep.equal(['email:newsletter', 'sms:offers']);
    expect(await allowed(a.email, 'newsletter')).to.equal(false);
    expect(await allowed(b.email, 'newsletter')).to.equal(true);

    // one update touching two contacts: a opts back in to everything, b opts out
    await knex('preferences')
      .whereIn('contact_id', [a.id, b.id])
      .update({
        status: knex.raw("case status when 'subscribed' then 'unsubscribed' else 'subscribed' end"),
      });
    expect(await optouts(a.id)).to.deep.equal([]);
    expect(await optouts(b.id)).to.deep.equal(['email:newsletter']);
    expect(await allowed(a.email, 'newsletter')).to.equal(true);
    expect(await allowed(b.email, 'newsletter')).to.equal(false);

    // a's newsletter row deleted, then c's rows moved to a (an update by hand): both
    // contacts are refreshed by the one update
    await knex('preferences').where({ contact_id: a.id, channel: 'email', topic: 'newsletter' }).del();
    expect(await optouts(a.id)).to.deep.equal([]);
    await knex('preferences').where({ contact_id: c.id }).update({ contact_id: a.id });
    expect(await optouts(c.id)).to.deep.equal([]);
    expect(await optouts(a.id)).to.deep.equal(['email:newsletter', 'sms:offers']);
    expect(await allowed(a.email, 'newsletter')).to.equal(false);
    expect(await allowed(c.email, 'newsletter')).to.equal(true);

    // a delete of several contacts' rows at once
    await knex('preferences').whereIn('contact_id', [a.id, b.id, c.id]).del();
    for (const x of [a, b, c]) expect(await optouts(x.id)).to.deep.equal([]);
    expect(await allowed(b.email, 'newsletter')).to.equal(true);
  });

  it('a statement that changes nothing, or names no row, leaves the snapshot as it is', async () => {
    const a = await contact();
    await knex('preferences').insert({
      contact_id: a.id,
      channel: 'email',
      topic: null,
      status: 'unsubscribed',
    });
    const before = await knex('contacts').where({ id: a.id }).first('optouts', 'updated_at');
    await knex('preferences').where({ contact_id: a.id }).update({ status: 'unsubscribed' });
    await knex('preferences').where({ contact_id: '00000000-0000-7000-8000-000000000000' }).del();
    const after = await knex('contacts').where({ id: a.id }).first('optouts', 'updated_at');
    expect(after).to.deep.equal(before);
    expect(after.optouts).to.deep.equal(['email:*']);
  });

  it('a write that fails rolls the snapshot back with it', async () => {
    const a = await contact();
    const err = await knex
      .transaction(async (trx) => {
        await trx('preferences').insert({
          contact_id: a.id,
          channel: 'email',
          topic: 'newsletter',
          status: 'unsubscribed',
        });
        expect((await trx('contacts').where({ id: a.id }).first('optouts')).optouts).to.deep.equal([
          'email:newsletter',
        ]);
        throw new Error('cut');
      })
      .catch((e: Error) => e);
    expect(err?.message).to.equal('cut');
    expect(await optouts(a.id)).to.deep.equal([]);
    expect(await allowed(a.email, 'newsletter')).to.equal(true);
  });
});
