// First run for a newcomer: an empty embedded database gets one demo account (signed agreement),
// one contact and one API key, and the console prints how to reach them, once.
import { createApiKey, SCOPES } from '../../server/admin/api-keys.ts';
import { upsertAccount, upsertContact } from '../../server/contacts/service.ts';
import type { Core } from '../../server/core.ts';
import { preferencesUrl } from '../../server/tokens/tokens.ts';

export const DEMO_EMAIL = 'demo@example.com';

export async function seedDemo(core: Core): Promise<string | null> {
  const knex = core.db.knex;
  const [{ n }] = await knex('contacts').count({ n: '*' });
  const [{ a }] = await knex('accounts').count({ a: '*' });
  if (Number(n) > 0 || Number(a) > 0) return null;
  const origin = { actor: 'system' as const };
  await upsertAccount(core, origin, 'demo', {
    name: 'Demo Customer Ltd',
    agreement: { status: 'signed', signedAt: new Date(), reference: 'DEMO-AGREEMENT-1' },
  });
  const { contact } = await upsertContact(core, origin, DEMO_EMAIL, {
    name: 'Demo Person',
    accountExternalId: 'demo',
    locale: 'en',
    timeZone: 'America/New_York',
  });
  const { secret } = await createApiKey(knex, core.ledger, origin, {
    name: 'demo (all scopes)',
    scopes: [...SCOPES],
  });
  const base = core.config.baseUrl;
  return [
    '',
    'Embedded database created with demo data (shown only this once):',
    `  account    demo (signed agreement)`,
    `  contact    ${DEMO_EMAIL}`,
    `  API key    ${secret}`,
    `  preferences link  ${preferencesUrl(base, core.config.tokenKeys, contact.id)}`,
    '',
    'Try:',
    `  curl -s ${base}/api/v1/send-permission -H "Authorization: Bearer ${secret}" \\`,
    `    -H 'Content-Type: application/json' -d '{"channel":"email","recipient":"${DEMO_EMAIL}","topic":"newsletter"}'`,
    '',
  ].join('\n');
}
