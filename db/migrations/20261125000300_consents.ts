import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

const SMS_V1 =
  'By checking this box, I agree to receive recurring marketing and informational text messages from us at ' +
  'the mobile number provided, which may be sent using an automatic telephone dialing system. Consent is not ' +
  'a condition of any purchase. Message frequency varies. Msg & data rates may apply. Reply HELP for help ' +
  'and STOP to cancel at any time.';
const VOICE_V1 =
  'By checking this box, I agree to receive marketing and informational calls from us at the phone number ' +
  'provided, which may use an automatic telephone dialing system or an artificial or prerecorded voice. ' +
  'Consent is not a condition of any purchase. You can revoke this consent at any time by telling us on a ' +
  'call, on your preferences page, or by contacting support.';

// Consent texts are evidence: versions are only ever added, never edited or removed.
export async function up(knex: Knex) {
  await runStatements(knex, [
    `create table disclosures (
      id serial primary key,
      channel text not null check (channel in ('sms', 'voice')),
      locale text not null check (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
      version integer not null check (version >= 1),
      text text not null check (length(text) between 20 and 5000),
      text_hash text not null,
      created_at timestamptz not null default now(),
      unique (channel, locale, version)
    )`,
    `create function refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = 'insufficient_privilege';
    end $$`,
    `create trigger disclosures_append_only before update or delete on disclosures
      for each row execute function refuse_change()`,
    `insert into disclosures (channel, locale, version, text, text_hash) values
      ('sms', 'en', 1, '${SMS_V1}', encode(sha256(convert_to('${SMS_V1}', 'UTF8')), 'hex')),
      ('voice', 'en', 1, '${VOICE_V1}', encode(sha256(convert_to('${VOICE_V1}', 'UTF8')), 'hex'))`,
    // One row per grant, with its evidence; revocation is recorded on the same row. The current
    // state of a number and channel is its newest row. Consent belongs to the number.
    `create table consents (
      id uuid primary key default gen_random_uuid(),
      contact_id uuid not null references contacts(id),
      phone text not null check (phone ~ '^\\+[1-9][0-9]{6,14}$'),
      channel text not null check (channel in ('sms', 'voice')),
      status text not null check (status in ('granted', 'revoked')),
      method text not null check (method in ('web_form', 'written_agreement', 'verbal', 'sms_keyword', 'api')),
      disclosure_id integer references disclosures(id),
      disclosure_hash text,
      captured_by text not null,
      captured_at timestamptz not null,
      ip text,
      user_agent text check (length(user_agent) <= 1000),
      note text check (length(note) <= 2000),
      revoked_at timestamptz,
      revoked_by text,
      revoked_method text,
      created_at timestamptz not null default now(),
      constraint revoked_has_time check ((status = 'revoked') = (revoked_at is not null))
    )`,
    'create index consents_phone_channel on consents (phone, channel, created_at desc)',
    'create index consents_contact on consents (contact_id)',
  ]);
}
