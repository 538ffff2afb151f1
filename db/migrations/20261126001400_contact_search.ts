import type { Knex } from 'knex';
import { runStatements } from '../migrate.ts';

// Console search a support agent can use: a name without regard to accents or case (pc_fold, an
// immutable function so an index can use it) by its start or by whole words, the last four digits of a number, and an email
// domain, each with an index so a million contacts stay quick.
export const FROM =
  'ÁÀÂÄÃÅĀĂĄáàâäãåāăąÉÈÊËĒĖĘĚéèêëēėęěÍÌÎÏĪĮíìîïīįÓÒÔÖÕØŌőóòôöõøōŐÚÙÛÜŪŮŰŲúùûüūůűųÑŃŇñńňÇĆČçćčÝŸýÿŠŚšśŽŹŻžźżĐđŁłĞğŞşŢţŘř';
export const TO =
  'AAAAAAAAAaaaaaaaaaEEEEEEEEeeeeeeeeIIIIIIiiiiiiOOOOOOOooooooooOUUUUUUUUuuuuuuuuNNNnnnCCCcccYYyySSssZZZzzzDdLlGgSsTtRr';

export async function up(knex: Knex) {
  if ([...FROM].length !== [...TO].length) throw new Error('pc_fold: FROM and TO differ in length');
  await runStatements(knex, [
    `create function pc_fold(text) returns text language sql immutable parallel safe as
       $$ select lower(translate($1, '${FROM}', '${TO}')) $$`,
    'create index contacts_name_folded on contacts (pc_fold(name) text_pattern_ops) where erased_at is null',
    // whole words of the name (a surname typed alone), accent- and case-folded
    "create index contacts_name_words on contacts using gin (string_to_array(pc_fold(name), ' ')) where erased_at is null",
    // an address's start (the unique index's collation cannot serve LIKE 'abc%')
    'create index contacts_email_key_prefix on contacts (email_key text_pattern_ops) where erased_at is null',
    'create index contacts_phone_last4 on contacts (right(phone, 4)) where phone is not null',
    "create index contacts_email_domain on contacts (split_part(email_key, '@', 2))",
  ]);
}
