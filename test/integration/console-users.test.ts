// Console users end to end through the outbox: invitations, resets and "forgot password" by
// one-time links that a mail scanner's GET does not use up; disabling, role changes, clearing
// sign-in waits; the first owner's link on a database with no user. Runs on its own database
// (the last-owner rule needs to know every owner).
import { expect } from 'chai';
import request from 'supertest';
import { migrateLatest } from '../../db/migrate.ts';
import { createStaffUser, firstOwnerLink } from '../../server/admin/staff.ts';
import { upsertAccount } from '../../server/contacts/service.ts';
import { type TestApp, testApp, uniqueEmail } from '../support/app.ts';
import { type FreshDb, freshDb } from '../support/db.ts';
import { csrfOf } from '../support/forms.ts';

const PASSWORD = 'correct horse battery staple';
const system = { actor: 'system' as const };

describe('console users', function () {
  this.timeout(60_000);
  let fresh: FreshDb;
  let t: TestApp;

  before(async () => {
    fresh = await freshDb();
    await migrateLatest(fresh.db.knex);
    t = await testApp({ db: fresh.db, env: { BASE_URL: 'http://console.test' } });
  });
  after(async () => {
    await fresh.drop();
  });

  async function signIn(email: string, password = PASSWORD) {
    const agent = request.agent(t.app);
    const login = await agent.get('/admin/login').expect(200);
    const res = await agent
      .post('/admin/login')
      .type('form')
      .send({ email, password, csrf: csrfOf(login.text) });
    return {
      agent,
      status: res.status,
      csrf: res.status === 303 ? csrfOf((await agent.get('/admin/contacts')).text) : '',
    };
  }
  /** The one-time link in the newest mail to this address. */
  async function linkMailedTo(email: string) {
    const msg = await t.db.knex('messages').where({ to_email: email }).orderBy('created_at', 'desc').first();
    expect(msg, `a mail to ${email}`).to.not.equal(undefined);
    const url = /https?:\/\/\S+\/admin\/welcome\/[A-Za-z0-9_-]{43}/.exec(msg.text)?.[0] as string;
    expect(url, 'a link in the mail').to.be.a('string');
    return new URL(url).pathname;
  }
  async function setPassword(path: string, password: string, again = password) {
    const page = await request(t.app).get(path);
    if (page.status !== 200) return page;
    return request(t.app)
      .post(path)
      .type('form')
      .send({ csrf: csrfOf(page.text), password, again });
  }

  it('creates the first owner from the link printed on a database with no user, once', async () => {
    const token = (await firstOwnerLink(t.ctx, new Date())) as string;
    expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
    const path = `/admin/welcome/${token}`;
    // a scanner's GET shows the form and uses nothing
    for (let i = 0; i < 2; i++)
      expect((await request(t.app).get(path).expect(200)).text).to.include('Create the first owner');
    const page = await request(t.app).get(path);
    const created = await request(t.app)
      .post(path)
      .type('form')
      .send({
        csrf: csrfOf(page.text),
        email: 'first@example.com',
        name: 'First',
        password: PASSWORD,
        again: PASSWORD,
      })
      .expect(303);
    expect(created.headers.location).to.equal('/admin/login?done=password_set&email=first%40example.com');
    expect((await signIn('first@example.com')).status).to.equal(303);
    const owner = await t.db.knex('staff_users').where({ email: 'first@example.com' }).first();
    expect(owner.role).to.equal('owner');
    // used: the page says so; and with an owner, no new first-owner link is made
    expect((await request(t.app).get(path).expect(404)).text).to.include('Link not valid');
    expect(await firstOwnerLink(t.ctx, new Date())).to.equal(null);
  });

  it('invites by email: the invitee chooses a password from a one-time link, then signs in', async () => {
    const owner = await signIn('first@example.com');
    const invitee = uniqueEmail('invitee');
    await owner.agent
      .post('/admin/staff')
      .type('form')
      .send({ csrf: owner.csrf, email: invitee, name: 'Ivy', role: 'staff' })
      .expect(303);
    expect((await signIn(invitee)).status, 'no usable password before the link').to.equal(401);
    const path = await linkMailedTo(invitee);
    expect((await request(t.app).get(path).expect(200)).text).to.include(invitee);
    expect((await setPassword(path, PASSWORD, 'something else entirely')).status).to.equal(400);
    expect((await setPassword(path, 'short')).status).to.equal(400);
    expect((await setPassword(path, PASSWORD)).status).to.equal(303);
    expect((await signIn(invitee)).status).to.equal(303);
    expect((await setPassword(path, 'another long passphrase')).status, 'a link works once').to.equal(404);
    const events = await t.db.knex('events').whereIn('type', ['staff.invited', 'staff.joined']).orderBy('id');
    expect(events.map((e) => e.type)).to.deep.equal(['staff.invited', 'staff.joined']);
  });

  it('resets a password (from an owner or "forgot password"), ending the old sessions', async () => {
    const owner = await signIn('first@example.com');
    const email = uniqueEmail('resetme');
    await createStaffUser(t.db.knex, t.ctx.ledger, system, { email, password: PASSWORD, role: 'staff' });
    const user = await t.db.knex('staff_users').where({ email }).first();
    const session = await signIn(email);
    await owner.agent
      .post(`/admin/staff/${user.id}/reset`)
      .type('form')
      .send({ csrf: owner.csrf })
      .expect(303);
    expect((await setPassword(await linkMailedTo(email), 'a brand new passphrase')).status).to.equal(303);
    expect((await session.agent.get('/admin/contacts')).status, 'the old session ended').to.equal(303);
    expect((await signIn(email)).status).to.equal(401);
    expect((await signIn(email, 'a brand new passphrase')).status).to.equal(303);

    // "forgot password": the same answer for an address with and without a user
    const ask = async (address: string) => {
      const page = await request(t.app).get('/admin/forgot').expect(200);
      return request(t.app)
        .post('/admin/forgot')
        .type('form')
        .send({ csrf: csrfOf(page.text), email: address })
        .expect(200);
    };
    const before = Number((await t.db.knex('messages').count({ n: '*' }))[0].n);
    const unknown = await ask(uniqueEmail('nobody'));
    expect(Number((await t.db.knex('messages').count({ n: '*' }))[0].n)).to.equal(before);
    const known = await ask(email);
    // the same page, but for its form token
    expect(known.text.replace(/name="csrf" value="[^"]+"/, '')).to.equal(
      unknown.text.replace(/name="csrf" value="[^"]+"/, ''),
    );
    expect((await setPassword(await linkMailedTo(email), 'forgot and found again')).status).to.equal(303);
    expect((await signIn(email, 'forgot and found again')).status).to.equal(303);
  });

  it('disables and enables users (never yourself, never the last owner) and changes roles', async () => {
    const owner = await signIn('first@example.com');
    const me = await t.db.knex('staff_users').where({ email: 'first@example.com' }).first();
    const email = uniqueEmail('worker');
    const user = await createStaffUser(t.db.knex, t.ctx.ledger, system, {
      email,
      password: PASSWORD,
      role: 'staff',
    });
    const theirs = await signIn(email);
    await owner.agent
      .post(`/admin/staff/${user.id}/disable`)
      .type('form')
      .send({ csrf: owner.csrf })
      .expect(303);
    expect((await theirs.agent.get('/admin/contacts')).status, 'their session ended').to.equal(303);
    expect((await signIn(email)).status).to.equal(401);
    await owner.agent
      .post(`/admin/staff/${user.id}/enable`)
      .type('form')
      .send({ csrf: owner.csrf })
      .expect(303);
    expect((await signIn(email)).status).to.equal(303);
    // yourself, and the last owner
    await owner.agent
      .post(`/admin/staff/${me.id}/disable`)
      .type('form')
      .send({ csrf: owner.csrf })
      .expect(409);
    const demote = await owner.agent
      .post(`/admin/staff/${me.id}/role`)
      .type('form')
      .send({ csrf: owner.csrf, role: 'staff' })
      .expect(409);
    expect(demote.text).to.include('last active owner');
    // a role change: a customer administrator needs an account
    await upsertAccount(t.ctx, system, 'acme-users', { name: 'Acme' });
    await owner.agent
      .post(`/admin/staff/${user.id}/role`)
      .type('form')
      .send({ csrf: owner.csrf, role: 'customer_admin' })
      .expect(400);
    await owner.agent
      .post(`/admin/staff/${user.id}/role`)
      .type('form')
      .send({ csrf: owner.csrf, role: 'customer_admin', account: 'acme-users' })
      .expect(303);
    const now = await signIn(email);
    expect((await now.agent.get('/admin/accounts')).status, 'a customer administrator now').to.equal(403);
    const types = (await t.db.knex('events').where('type', 'like', 'staff.%').orderBy('id')).map(
      (e) => e.type,
    );
    expect(types).to.include.members(['staff.disabled', 'staff.enabled', 'staff.role_changed']);
  });

  it('clears the sign-in waits on one user, from every address they tried', async () => {
    const owner = await signIn('first@example.com');
    const email = uniqueEmail('slow');
    const user = await createStaffUser(t.db.knex, t.ctx.ledger, system, {
      email,
      password: PASSWORD,
      role: 'staff',
    });
    for (let i = 0; i < 4; i++) await signIn(email, 'wrong password, again');
    expect((await signIn(email)).status, 'waiting after 4 failures').to.equal(429);
    await owner.agent
      .post(`/admin/staff/${user.id}/unlock`)
      .type('form')
      .send({ csrf: owner.csrf })
      .expect(303);
    expect((await signIn(email)).status).to.equal(303);
  });

  it('shows owners every user with their actions; other roles are turned away', async () => {
    const owner = await signIn('first@example.com');
    const page = await owner.agent.get('/admin/staff').expect(200);
    expect(page.text).to.include('Invite a console user');
    expect(page.text).to.include('Email a reset link');
    const email = uniqueEmail('plain');
    await createStaffUser(t.db.knex, t.ctx.ledger, system, { email, password: PASSWORD, role: 'staff' });
    const plain = await signIn(email);
    expect((await plain.agent.get('/admin/staff')).status).to.equal(403);
    const someone = await t.db.knex('staff_users').whereNot({ email }).first();
    await plain.agent
      .post(`/admin/staff/${someone.id}/reset`)
      .type('form')
      .send({ csrf: plain.csrf })
      .expect(403);
  });
});
