// The brand every recipient page, system email and consent disclosure shows. Owners edit it in
// the console (on the ledger); the BRAND_* variables give the defaults. Pages read it from a
// copy at most 5 seconds old, so a brand costs a page nothing measurable.
import type { Knex } from 'knex';
import type { Config } from '../config.ts';
import type { Core } from '../core.ts';
import { DomainError } from '../errors.ts';
import type { Origin } from '../ledger/ledger.ts';
import { type BrandRow, brandRow, lockBrand, writeBrand } from './queries.ts';
import { BRAND_FIELDS, type Brand, brandCss, brandProblems, DEFAULT_COLOR } from './rules.ts';

export type { Brand };
export { BRAND_FIELDS, brandCss, brandProblems };

/** The brand the BRAND_* variables describe. */
export function brandDefaults(config: Config): Brand {
  return {
    name: config.brandName,
    logoUrl: config.brandLogoUrl ?? null,
    color: config.brandColor ?? DEFAULT_COLOR,
    postalAddress: config.brandPostalAddress ?? null,
    privacyUrl: config.brandPrivacyUrl ?? null,
    supportContact: config.supportContact,
  };
}

function merge(defaults: Brand, row: BrandRow | undefined): Brand {
  if (!row) return defaults;
  return {
    name: row.name ?? defaults.name,
    logoUrl: row.logo_url ?? defaults.logoUrl,
    color: row.color ?? defaults.color,
    postalAddress: row.postal_address ?? defaults.postalAddress,
    privacyUrl: row.privacy_url ?? defaults.privacyUrl,
    supportContact: row.support_contact ?? defaults.supportContact,
  };
}

const TTL_MS = 5000;
// The console's row, per database: merged with this app's defaults at each read (two apps on one
// database, as in tests or a canary, may have different BRAND_* variables).
const cache = new WeakMap<Knex, { at: number; row: Promise<BrandRow | undefined> }>();
const known = new WeakMap<Knex, BrandRow | undefined>();

function cachedRow(knex: Knex) {
  const hit = cache.get(knex);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.row;
  const row = brandRow(knex).then((r) => {
    known.set(knex, r);
    return r;
  });
  cache.set(knex, { at: Date.now(), row });
  row.catch(() => cache.delete(knex));
  return row;
}

/** The brand now: the console's edits over the defaults, from a copy at most 5 s old. */
export async function currentBrand(core: Pick<Core, 'db' | 'config'>): Promise<Brand> {
  return merge(brandDefaults(core.config), await cachedRow(core.db.knex));
}

/**
 * The brand as last read, without waiting (the defaults before the first read): for replies that
 * must go out while the database is slow or away (a STOP's confirmation). Refreshes behind.
 */
export function knownBrand(core: Pick<Core, 'db' | 'config'>): Brand {
  cachedRow(core.db.knex).catch(() => {});
  return merge(brandDefaults(core.config), known.get(core.db.knex));
}

export type BrandInput = Partial<Record<(typeof BRAND_FIELDS)[number], string | null>>;

/**
 * Saves an owner's edit: an empty field falls back to its default. Returns the brand now and
 * the fields that changed (nothing changed: nothing written).
 */
export async function saveBrand(core: Core, origin: Origin, input: BrandInput) {
  const clean = Object.fromEntries(
    BRAND_FIELDS.map((f) => [f, typeof input[f] === 'string' && input[f]?.trim() ? input[f]?.trim() : null]),
  ) as Record<(typeof BRAND_FIELDS)[number], string | null>;
  const defaults = brandDefaults(core.config);
  const problems = brandProblems({
    ...defaults,
    ...Object.fromEntries(Object.entries(clean).filter(([, v]) => v)),
  });
  if (problems.length) throw new DomainError('validation_failed', 'The brand is not valid.', problems);
  const changed = await core.db.knex.transaction(async (trx) => {
    const before = merge(defaults, await lockBrand(trx));
    const row: BrandRow = {
      name: clean.name,
      logo_url: clean.logoUrl,
      color: clean.color?.toLowerCase() ?? null,
      postal_address: clean.postalAddress,
      privacy_url: clean.privacyUrl,
      support_contact: clean.supportContact,
    };
    const after = merge(defaults, row);
    const fields = BRAND_FIELDS.filter((f) => before[f] !== after[f]);
    if (!fields.length) return fields;
    await writeBrand(trx, { ...row, updated_by: origin.actor });
    await core.ledger.append(trx, origin, { type: 'brand.updated', data: { fields: [...fields] } });
    return fields;
  });
  cache.delete(core.db.knex);
  return { brand: await currentBrand(core), changed };
}

/** MAIL_FROM's address under the brand's name: `Montra Technologies <no-reply@…>`. */
export function brandedSender(brandName: string, mailFrom: string) {
  const address = /<([^>]+)>/.exec(mailFrom)?.[1] ?? mailFrom.trim();
  const name = brandName.replace(/["\\\r\n]/g, '');
  return `"${name}" <${address}>`;
}
