import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApiKey, SCOPES, type Scope } from '../../server/admin/api-keys.ts';
import { createApp } from '../../server/app.ts';
import { type Config, loadConfig } from '../../server/config.ts';
import type { Db } from '../../server/db.ts';
import { sharedDb } from './db.ts';

export const TEST_TOKEN_SECRET = `t1:${'a'.repeat(40)}`;
export const TEST_HASH_SECRET = 'h'.repeat(40);

// Files the app writes (the opt-out spool) go to a directory of this run, not the repository's.
const TEST_DATA_DIR = mkdtempSync(path.join(tmpdir(), 'pc-test-'));

export function testConfig(env: Record<string, string> = {}, dataDir = TEST_DATA_DIR): Config {
  return loadConfig(
    {
      NODE_ENV: 'test',
      BASE_URL: 'https://prefs.example.test',
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      HASH_SECRET: TEST_HASH_SECRET,
      ...env,
    },
    { dataDir },
  );
}

export async function testApp(
  opts: { db?: Db; env?: Record<string, string>; now?: () => Date; dataDir?: string; jobs?: boolean } = {},
) {
  const db = opts.db ?? (await sharedDb());
  const app = createApp({ config: testConfig(opts.env, opts.dataDir), db, now: opts.now });
  // Background jobs are worked only where a test asks (and stops them: ctx.jobs.stop()).
  if (opts.jobs) await app.locals.ctx.jobs.start({ work: true });
  return { app, ctx: app.locals.ctx, db };
}

export type TestApp = Awaited<ReturnType<typeof testApp>>;

export async function apiKeyFor(t: TestApp, scopes: Scope[] = [...SCOPES]) {
  const { key, secret } = await createApiKey(
    t.db.knex,
    t.ctx.ledger,
    { actor: 'system' },
    { name: 'test', scopes },
  );
  return { id: key.id, secret, auth: `Bearer ${secret}` };
}

/** Unique per call, so tests sharing one database never see each other's rows. */
export function uniqueEmail(prefix = 'person') {
  return `${prefix}.${randomBytes(5).toString('hex')}@example.com`;
}

export function uniqueId(prefix = 'acct') {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A valid, unused US mobile number (555-01xx are fictional; use 201-555 style instead for validity). */
let phoneCounter = Math.floor(Math.random() * 9000);
export function uniquePhone() {
  phoneCounter = (phoneCounter + 1) % 10000;
  const line = String(phoneCounter).padStart(4, '0');
  const exchange = 200 + Math.floor(Math.random() * 700);
  return `+1415${exchange}${line}`;
}
