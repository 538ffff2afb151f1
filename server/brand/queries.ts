// The brand part's SQL: one row, null fields fall back to the BRAND_* variables.
import type { Knex } from 'knex';

export interface BrandRow {
  name: string | null;
  logo_url: string | null;
  color: string | null;
  postal_address: string | null;
  privacy_url: string | null;
  support_contact: string | null;
}

export function brandRow(q: Knex | Knex.Transaction): Promise<BrandRow | undefined> {
  return q('brand').where({ id: 1 }).first();
}

export function lockBrand(trx: Knex.Transaction) {
  return trx('brand').where({ id: 1 }).forUpdate().first();
}

export function writeBrand(trx: Knex.Transaction, row: BrandRow & { updated_by: string }) {
  return trx('brand')
    .insert({ id: 1, ...row, updated_at: new Date() })
    .onConflict('id')
    .merge();
}
