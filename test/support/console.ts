// A signed-in console session for integration tests: a new staff user of the given role (and
// account, for customer administrators), signed in through the real login form.
import request from 'supertest';
import { createStaffUser } from '../../server/admin/staff.ts';
import type { TestApp } from './app.ts';
import { uniqueEmail } from './app.ts';

export const STAFF_PASSWORD = 'correct horse battery staple';

import { csrfOf } from './forms.ts';

export { csrfOf };

export async function signedInStaff(
  t: Pick<TestApp, 'app' | 'db' | 'ctx'>,
  role: 'owner' | 'staff' | 'customer_admin',
  accountExternalId?: string,
) {
  const email = uniqueEmail(role);
  await createStaffUser(
    t.db.knex,
    t.ctx.ledger,
    { actor: 'system' },
    {
      email,
      password: STAFF_PASSWORD,
      role,
      accountExternalId,
    },
  );
  const agent = request.agent(t.app);
  const login = await agent.get('/admin/login').expect(200);
  await agent
    .post('/admin/login')
    .type('form')
    .send({ email, password: STAFF_PASSWORD, csrf: csrfOf(login.text) })
    .expect(303);
  const page = await agent.get('/admin/contacts').expect(200);
  return { agent, email, csrf: csrfOf(page.text) };
}
