// npm run bench:feed — what commit-time feed positions cost writers (DATABASE_URL: a real
// PostgreSQL; the bench turns the feed trigger off and on in THAT database, so give it a scratch
// one). Each round makes the same number of preference changes from 32 concurrent writers,
// through the service (transaction + ledger append), with the feed trigger on, then off;
// rounds alternate, the median ratio is reported.
import { randomBytes } from 'node:crypto';
import { migrateLatest } from '../db/migrate.ts';
import { upsertContact } from '../server/contacts/service.ts';
import type { Core } from '../server/core.ts';
import { createDb } from '../server/db.ts';
import { createLedger } from '../server/ledger/ledger.ts';
import { setPreferences } from '../server/preferences/service.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) {
  console.error('npm run bench:feed needs DATABASE_URL (a scratch PostgreSQL database)');
  process.exit(2);
}
const CHANGES = Number(process.env.BENCH_CHANGES ?? 3000);
const WRITERS = 32;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const hashSecret = Buffer.from('bench-feed-secret-bench-feed-secret-00000');

const db = await createDb({ databaseUrl: URL_, poolSize: WRITERS + 2 });
await migrateLatest(db.knex, { hashSecret });
const core = { config: { hashSecret }, db, ledger: createLedger(hashSecret) } as unknown as Core;
const system = { actor: 'system' as const };
const people: string[] = [];
for (let i = 0; i < 500; i++) {
  const { contact } = await upsertContact(
    core,
    system,
    `feed.${randomBytes(5).toString('hex')}@bench.example.org`,
    {},
  );
  people.push(contact.id);
}

async function round() {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < CHANGES) {
        const i = next++;
        const status = i % 2 ? 'subscribed' : 'unsubscribed';
        await setPreferences(core, system, people[i % people.length], [
          { channel: 'email', topic: 'newsletter', status },
        ]);
      }
    }),
  );
  return CHANGES / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const trigger = (on: boolean) =>
  db.knex.raw(`alter table events ${on ? 'enable' : 'disable'} trigger events_place_in_feed`);
await round(); // warm-up
const ratios: number[] = [];
try {
  for (let r = 0; r < ROUNDS; r++) {
    await trigger(true);
    const withFeed = await round();
    await trigger(false);
    const without = await round();
    ratios.push(withFeed / without);
    console.log(
      `round ${r + 1}: ${Math.round(withFeed)} changes/s with the feed, ${Math.round(without)} without`,
    );
  }
} finally {
  await trigger(true);
}
const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)];
console.log(
  `feed positions at commit: ${(median * 100).toFixed(0)}% of the write rate without them (median of ${ROUNDS} rounds, ${WRITERS} writers)`,
);
await db.close();
