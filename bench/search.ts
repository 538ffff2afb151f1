// npm run bench:search: the console's contact search on the bench database (1,000,000 contacts;
// give them names and numbers first, see the note in #18), median of 5 runs per kind of term.
import { searchContacts } from '../server/admin/queries.ts';
import { createDb } from '../server/db.ts';

const db = await createDb({ databaseUrl: process.env.DATABASE_URL as string });
const staff = { userId: 'x', role: 'owner' as const, accountId: null };
const cases: [string, Record<string, unknown>][] = [
  ['full number, any spelling', { q: '(415) 555-1234' }],
  ['last four digits', { q: '3456' }],
  ['name, no accents', { q: 'jose alvarez 1234' }],
  ['first name only (many)', { q: 'jose' }],
  ['surname and number, accents folded', { q: 'muller 99999' }],
  ['email domain', { q: 'bench.example.org' }],
  ['email start', { q: 'b12345@' }],
  ['status filter: all marketing off', { status: 'all_off' }],
  ['no term, page 200', { page: 200 }],
];
for (const [name, input] of cases) {
  const times: number[] = [];
  let r: Awaited<ReturnType<typeof searchContacts>> | undefined;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    r = await searchContacts({ db }, staff as never, input, 'US');
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(36)} ${times[2].toFixed(1).padStart(7)} ms median  rows ${r?.rows.length} total ${r?.total}${r?.totalCapped ? '+' : ''}`,
  );
}
await db.close();
