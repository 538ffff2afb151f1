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

// Which of our languages a browser's Accept-Language picks depends on that header alone, and
// parsing and sorting it (negotiator) cost a page about 2 KB of garbage and a few µs. Kept per
// header value: browsers send one of a few dozen; a long or an unusual flood only resets it.
const byAcceptLanguage = new Map<string, string | false>();
const NO_HEADER = '\0'; // a header value never holds a NUL

/** The browser's pick among LOCALES, or false (as `req.acceptsLanguages(...LOCALES)` answers). */
export function browserLocale(req: {
  headers: { 'accept-language'?: string };
  acceptsLanguages(...langs: string[]): string | false;
}): string | false {
  // No header at all answers differently from an empty one (any language, against none).
  const header = req.headers['accept-language'] ?? NO_HEADER;
  let picked = byAcceptLanguage.get(header);
  if (picked === undefined) {
    picked = req.acceptsLanguages(...LOCALES);
    if (header.length <= 256) {
      if (byAcceptLanguage.size >= 1000) byAcceptLanguage.clear();
      byAcceptLanguage.set(header, picked);
    }
  }
  return picked;
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
