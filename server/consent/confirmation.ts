// Confirmed numbers (SPEC "Pages", /preferences/{token}): before consent given on the page is
// recorded, a one-time code is texted to the number, so a person can only consent for a number
// they hold. The page never says whether a number belongs to someone else: proving it moves the
// number, and that contact's consents for it are revoked on the ledger (`number_reassigned`).
// Codes: 6 digits, 10 minutes, compared in constant time over a keyed hash, 5 tries; at most 3
// per number per hour and 10 per contact per day (SMS pumping); a number the carrier reports as
// opted out (Twilio 21610) is never texted again.

import { randomInt, timingSafeEqual } from 'node:crypto';
import { currentBrand } from '../brand/service.ts';
import { type Core, type Reader, sql } from '../core.ts';
import type { PhoneChannel } from '../domain.ts';
import { hmacSha256 } from '../hmac.ts';
import type { Jobs } from '../jobs/jobs.ts';
import type { Origin } from '../ledger/ledger.ts';
import {
  carrierOptedOut,
  claimConfirmation,
  confirmationOf,
  confirmationsSince,
  countAttempt,
  insertConfirmation,
  openConfirmation,
  setCodeHash,
} from './queries.ts';
import { grantConsent } from './service.ts';
import type { Texter } from './texts.ts';

export const CODE_TTL_MS = 10 * 60 * 1000;
export const MAX_PER_NUMBER_PER_HOUR = 3;
export const MAX_PER_CONTACT_PER_DAY = 10;
const MAX_TRIES = 5;

const codeHash = (secret: Buffer, id: string, code: string) =>
  hmacSha256(secret).update(`phone-code:${id}:${code}`).digest();

export type StartResult = { ok: true; id: string } | { ok: false; reason: 'too_many' | 'opted_out' };

export async function startConfirmation(
  core: Core,
  texter: Texter,
  input: {
    contactId: string;
    phone: string;
    channels: PhoneChannel[];
    versions: Partial<Record<PhoneChannel, number>>;
    locale: string | null;
    ip: string | null;
    userAgent: string | null;
  },
  now: Date,
): Promise<StartResult> {
  const knex = core.db.knex;
  const count = (where: Record<string, string>, sinceMs: number) =>
    confirmationsSince(knex, where, new Date(now.getTime() - sinceMs));
  if (
    (await count({ phone: input.phone }, 3600_000)) >= MAX_PER_NUMBER_PER_HOUR ||
    (await count({ contact_id: input.contactId }, 24 * 3600_000)) >= MAX_PER_CONTACT_PER_DAY
  ) {
    return { ok: false, reason: 'too_many' };
  }
  if (await carrierOptedOut(knex, input.phone)) return { ok: false, reason: 'opted_out' };
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const row = await insertConfirmation(knex, {
    contact_id: input.contactId,
    phone: input.phone,
    channels: input.channels,
    disclosure_versions: JSON.stringify(input.versions),
    locale: input.locale,
    code_hash: 'pending',
    expires_at: new Date(now.getTime() + CODE_TTL_MS),
    ip: input.ip,
    user_agent: input.userAgent?.slice(0, 1000) ?? null,
    created_at: now,
  });
  await setCodeHash(knex, row.id, codeHash(core.config.hashSecret, row.id, code).toString('hex'));
  const sent = await texter.send({
    contactId: input.contactId,
    to: input.phone,
    kind: 'confirmation_code',
    body: `${(await currentBrand(core)).name}: your code is ${code}. It expires in 10 minutes. If you did not ask for it, ignore this text.`,
  });
  if (!sent.ok) return { ok: false, reason: 'opted_out' };
  return { ok: true, id: row.id };
}

export type ConfirmResult =
  | { ok: true; phone: string }
  | { ok: false; reason: 'unknown' | 'expired' | 'wrong' | 'too_many_tries' };

/** Checks a code and, when it is right, records the consent (moving the number if need be). */
export async function confirmCode(
  core: Core,
  origin: Origin,
  input: { contactId: string; id: string; code: string; jobs?: Jobs },
  now: Date,
): Promise<ConfirmResult> {
  const knex = core.db.knex;
  const row = /^[0-9a-f-]{36}$/i.test(input.id)
    ? await confirmationOf(knex, input.contactId, input.id)
    : undefined;
  if (!row || row.confirmed_at) return { ok: false, reason: 'unknown' };
  if (new Date(row.expires_at) <= now) return { ok: false, reason: 'expired' };
  if (row.attempts >= MAX_TRIES) return { ok: false, reason: 'too_many_tries' };
  const given = codeHash(core.config.hashSecret, row.id, input.code.replace(/\D/g, '').slice(0, 6));
  const expected = Buffer.from(row.code_hash, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    await countAttempt(knex, row.id);
    return { ok: false, reason: row.attempts + 1 >= MAX_TRIES ? 'too_many_tries' : 'wrong' };
  }
  // Used once: a second submission of the same code finds it confirmed.
  if (!(await claimConfirmation(knex, row.id, now))) return { ok: false, reason: 'unknown' };
  const versions =
    typeof row.disclosure_versions === 'string'
      ? JSON.parse(row.disclosure_versions)
      : row.disclosure_versions;
  await grantConsent(
    core,
    origin,
    input.contactId,
    {
      phone: row.phone,
      channels: row.channels,
      method: 'web_form',
      disclosureVersions: versions,
      locale: row.locale,
      ip: row.ip,
      userAgent: row.user_agent,
    },
    { jobs: input.jobs, reassign: true },
  );
  return { ok: true, phone: row.phone };
}

/** A confirmation still waiting for its code (for the page), or null. */
export async function pendingConfirmation(from: Reader, contactId: string, id: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const row = await openConfirmation(sql(from), contactId, id);
  return row ? { phone: row.phone as string, expiresAt: new Date(row.expires_at) } : null;
}
