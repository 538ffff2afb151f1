// Picks the page language: the contact's locale where a translation exists, else the browser's
// Accept-Language, else English. `format` fills {placeholders}; templates escape the result.
import { en, type Strings } from './en.ts';
import { es, esTopicNames } from './es.ts';

export type { Strings };
export const LOCALES = ['en', 'es'] as const;
export type Locale = (typeof LOCALES)[number];

const tables: Record<Locale, Strings> = { en, es: { ...en, ...es } };
const topicNames: Record<Locale, Record<string, { name: string; description: string }>> = {
  en: {},
  es: esTopicNames,
};

/** "es-MX" → "es"; unknown → null. */
export function supportedLocale(locale: string | null | undefined): Locale | null {
  const base = locale?.toLowerCase().split('-')[0];
  return (LOCALES as readonly string[]).includes(base ?? '') ? (base as Locale) : null;
}

export function pickLocale(contactLocale: string | null | undefined, fromBrowser: string | false): Locale {
  return supportedLocale(contactLocale) ?? supportedLocale(fromBrowser || null) ?? 'en';
}

export function strings(locale: Locale): Strings {
  return tables[locale];
}

export function format(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => values[k] ?? m);
}

/** A topic's name and description in the page's language, falling back to what the database holds. */
export function topicText(locale: Locale, topic: { slug: string; name: string; description: string | null }) {
  const t = topicNames[locale][topic.slug];
  return { name: t?.name ?? topic.name, description: t?.description ?? topic.description ?? '' };
}
