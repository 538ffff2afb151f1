import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Three check constraints on the hottest writes, the same rules written so PostgreSQL's regular
// expression engine has less to do. It builds a counted repeat such as `{64}` as that many states
// in a row, and walks them for every value: `email_hash ~ '^[0-9a-f]{64}$'` cost 12.7 µs a value
// in psql (a million keyed hashes against a table of them, less the same query without the test),
// more than a tenth of all PostgreSQL did for an imported contact (a `perf` profile of the
// import's backends put 15 % of their time in the regex executor). The length tested apart and
// the characters by `+` cost 0.6 µs (the length in bytes: the class admits only one-byte
// characters, so it is the length in characters whenever the rule passes, and counting
// characters cost 0.25 µs more). The phone's `{6,14}` likewise: 1.5 against 0.4 µs. The
// ledger's actor check, an alternation over six forms, 3.2 µs an event; as a list of the fixed
// actors, or a prefix followed by at least one character and no space anywhere, 0.2 µs.
//
// Each rule accepts exactly what it did:
//   ^[0-9a-f]{64}$                 length 64, and every character one of 0-9a-f
//   ^\+[1-9][0-9]{6,14}$           "+", a digit 1-9, then digits only, 8 to 16 characters in all
//   ^(recipient|system|staff:[^ ]+|apikey:[^ ]+|provider:(sendgrid|sms)|import:[^ ]+)$
//                                  one of the four fixed actors, or staff:, apikey: or import:
//                                  followed by one character or more, none a space (the prefixes
//                                  hold none, so no space anywhere)
// Same constraint names, so an error names the same rule. Each table is scanned once to validate
// its new rule (under the ALTER's lock: about a second a million rows here).
/** The rules as SQL, old and new: a test holds both to the same answers. */
export const CHECK_RULES = {
  emailHash: {
    old: "email_hash ~ '^[0-9a-f]{64}$'",
    new: "octet_length(email_hash) = 64 and email_hash ~ '^[0-9a-f]+$'",
  },
  phone: {
    old: "phone ~ '^\\+[1-9][0-9]{6,14}$'",
    new: "octet_length(phone) between 8 and 16 and phone ~ '^\\+[1-9][0-9]+$'",
  },
  actor: {
    old: "actor ~ '^(recipient|system|staff:[^ ]+|apikey:[^ ]+|provider:(sendgrid|sms)|import:[^ ]+)$'",
    new: `actor in ('recipient', 'system', 'provider:sendgrid', 'provider:sms')
          or (strpos(actor, ' ') = 0
              and (actor like 'staff:_%' or actor like 'apikey:_%' or actor like 'import:_%'))`,
  },
};

/** The statements that put one form of the three rules in place (bench:schema-ab puts the old one back). */
export function swapChecks(which: 'old' | 'new') {
  return [
    `alter table contacts
       drop constraint contacts_email_hash_check,
       add constraint contacts_email_hash_check check (${CHECK_RULES.emailHash[which]}),
       drop constraint contacts_phone_check,
       add constraint contacts_phone_check check (${CHECK_RULES.phone[which]})`,
    `alter table events
       drop constraint events_actor_check,
       add constraint events_actor_check check (${CHECK_RULES.actor[which]})`,
  ];
}

export async function up(knex: Knex) {
  await runStatements(knex, swapChecks('new'));
}

export async function down(knex: Knex) {
  await runStatements(knex, swapChecks('old'));
}
