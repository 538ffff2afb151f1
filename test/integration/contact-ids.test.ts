// New contacts take time-ordered ids (version 7 uuids, migration 20261127000200): contacts
// written together sit together in the indexes keyed by their id, which is what keeps a
// million-row import's index writes local.
import { expect } from 'chai';
import request from 'supertest';
import { apiKeyFor, type TestApp, testApp, uniqueId } from '../support/app.ts';
import { millisOf, UUID_V7 } from '../support/uuid.ts';

describe('contact ids in time order', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = await testApp();
    auth = (await apiKeyFor(t)).auth;
  });

  it('gives each new contact a version 7 uuid carrying the millisecond it was created', async () => {
    const ids: string[] = [];
    const before = Date.now();
    for (let i = 0; i < 3; i++) {
      const email = `${uniqueId('v7')}@example.com`;
      await request(t.app)
        .put(`/api/v1/contacts/${encodeURIComponent(email)}`)
        .set('Authorization', auth)
        .send({})
        .expect(201);
      ids.push((await t.db.knex('contacts').where({ email_key: email }).first('id')).id);
      await new Promise((r) => setTimeout(r, 3)); // the next one in a later millisecond
    }
    const after = Date.now();
    for (const id of ids) {
      expect(id, id).to.match(UUID_V7);
      // the database's clock and this process's are the same machine's (PGlite: the same process)
      expect(millisOf(id)).to.be.within(before - 1000, after + 1000);
    }
    expect([...ids].sort(), 'ids sort as the contacts were created').to.deep.equal(ids);
    expect(new Set(ids.map((id) => id.slice(19))).size, 'the random part differs').to.equal(3);
  });
});
