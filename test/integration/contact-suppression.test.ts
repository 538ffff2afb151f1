// A contact created for an address that is suppressed already (an earlier bounce, a complaint, an
// erased person) is suppressed from its first moment: contacts.suppressed is what a check of a
// known address reads. The database sees to it for every writer, once a statement for inserts
// (contacts_take_suppression_inserted) and once a row for an address changed in place.
import { expect } from 'chai';
import { upsertContact } from '../../server/contacts/service.ts';
import type { Core } from '../../server/core.ts';
import { insertContacts } from '../../server/imports/queries.ts';
import { keyedHash } from '../../server/keyed-hash.ts';
import { createLedger } from '../../server/ledger/ledger.ts';
import { testConfig, uniqueEmail } from '../support/app.ts';
import { sharedDb } from '../support/db.ts';

describe('a new contact takes its address suppression', () => {
  let core: Core;
  before(async () => {
    const db = await sharedDb();
    const config = testConfig();
    core = { config, db, ledger: createLedger(config.hashSecret) } as Core;
  });
  const hash = (email: string) => keyedHash(core.config.hashSecret, 'email', email);
  const suppress = (email: string) =>
    core.db.knex('suppressions').insert({ email_hash: hash(email), reason: 'bounce', actor: 'system' });
  const suppressedOf = async (emails: string[]) => {
    const rows = await core.db
      .knex('contacts')
      .whereIn('email_key', emails)
      .select('email_key', 'suppressed');
    return emails.map((e) => rows.find((r) => r.email_key === e)?.suppressed);
  };

  it('through the service, and the contact it returns says so', async () => {
    const gone = uniqueEmail('bounced');
    await suppress(gone);
    const sys = { actor: 'system' as const };
    const { contact, created } = await upsertContact(core, sys, gone, { name: 'Bounced Before' });
    expect(created).to.equal(true);
    expect(contact.suppressed).to.equal(true);
    expect(await suppressedOf([gone])).to.deep.equal([true]);
    const { contact: fine } = await upsertContact(core, sys, uniqueEmail('fine'), {});
    expect(fine.suppressed).to.equal(false);
  });

  it('in one statement of many rows, by SQL by hand, whatever the writer claimed', async () => {
    const [held, free, claimed] = [uniqueEmail('held'), uniqueEmail('free'), uniqueEmail('claimed')];
    await suppress(held);
    await core.db.knex('contacts').insert([
      { email: held, email_key: held, email_hash: hash(held) },
      { email: free, email_key: free, email_hash: hash(free) },
      // suppressed without a suppression: the database knows better
      { email: claimed, email_key: claimed, email_hash: hash(claimed), suppressed: true },
    ]);
    expect(await suppressedOf([held, free, claimed])).to.deep.equal([true, false, false]);
  });

  it("through the import's bulk insert (COPY on PostgreSQL), whatever the batch claimed", async () => {
    const [held, free, claimed] = [uniqueEmail('held'), uniqueEmail('free'), uniqueEmail('claimed')];
    await suppress(held);
    const row = (email: string, suppressed: boolean) => ({
      email,
      email_key: email,
      email_hash: hash(email),
      name: null,
      phone: null,
      locale: null,
      time_zone: null,
      region: null,
      account_id: null,
      optouts: [],
      suppressed,
    });
    await core.db.knex.transaction((trx) =>
      insertContacts(trx, [row(held, false), row(free, false), row(claimed, true)]),
    );
    expect(await suppressedOf([held, free, claimed])).to.deep.equal([true, false, false]);
  });

  it('when a live contact moves to a suppressed address, and back', async () => {
    const [from, onto] = [uniqueEmail('from'), uniqueEmail('onto')];
    await suppress(onto);
    const [c] = await core.db
      .knex('contacts')
      .insert({ email: from, email_key: from, email_hash: hash(from) })
      .returning(['id']);
    const moved = async (email: string) =>
      (
        await core.db
          .knex('contacts')
          .where({ id: c.id })
          .update({ email, email_key: email, email_hash: hash(email) })
          .returning(['suppressed'])
      )[0].suppressed;
    expect(await moved(onto)).to.equal(true);
    expect(await moved(from)).to.equal(false);
  });
});
