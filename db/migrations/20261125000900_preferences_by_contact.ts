import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// The two unique indexes on preferences are partial (topic null / not null), so a lookup by
// contact alone (the preference page, the opt-out snapshot trigger, exports) could not use
// them and scanned the table: the bench showed the preference page at 6% of baseline.
export async function up(knex: Knex) {
  await runStatements(knex, ['create index preferences_contact on preferences (contact_id)']);
}
