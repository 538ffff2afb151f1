import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// contacts.email_key is the canonical address (canonicalEmail: NFC, trimmed, lower-cased), a key
// matched byte for byte, never a word to sort by a language's rules. Under the database's own
// collation (en_US.UTF-8, C.UTF-8, …) every comparison in its index goes through the C library's
// strcoll, and a prefix search (the console's "starts with") cannot use that index at all, so a
// second index (contacts_email_key_prefix, text_pattern_ops) carried every key again. With the
// "C" collation comparisons are memcmp, and the one unique index serves the check's probe, the
// stream's joins, the import's look-ups, the console's prefix search and its order by address.
// Measured on a million contacts (`npm run bench:key-probe`: the stream's sparse read of 200,000
// random addresses in batches of 5,000, the backend's CPU, each index freshly built): 3.35-5.05
// µs an address under "C" against 3.95-5.50 under C.UTF-8 and 6.6-7.8 under ICU English (nine
// alternating rounds on a noisy box); and each new contact maintains one index fewer.
// Equality is unchanged (a deterministic collation already broke ties bytewise), so uniqueness
// and every lookup mean what they meant. The column keeps its pages (no table rewrite); its two
// indexes (the unique one and the domain's) are rebuilt under the table's lock: about 1.3 s a
// million contacts on a two-core machine.
export async function up(knex: Knex) {
  await runStatements(knex, [
    'drop index if exists contacts_email_key_prefix',
    'alter table contacts alter column email_key type text collate "C"',
  ]);
}
