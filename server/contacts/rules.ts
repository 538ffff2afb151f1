// Pure validation of contact and account fields. Messages are written for the person who sent
// the request: what is wrong and what would be right.
import { domainToASCII } from 'node:url';

export const MAX_NAME = 200;

// Addresses are checked as a mail server would take them (RFC 5321 limits, RFC 5322 dot-atoms,
// RFC 6531 UTF-8 local parts, IDNA domains): a refused address here is one no server would have
// delivered to, and an address a server would refuse must not become a contact.
const MAX_ADDRESS = 254;
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
const MAX_LABEL = 63;
// atext of RFC 5322 plus any non-ASCII letter, mark or number (RFC 6531); dots between atoms.
const LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\p{L}\p{M}\p{N}]+$/u;
const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const ASCII = /^[\x21-\x7e]*$/;

type EmailResult = { ok: true; email: string } | { ok: false; reason: string };

// The common case in one pass (a stream checks 250,000 addresses a second: 4 µs each, all in):
// an ASCII dot-atom, then labels of at most 63 characters. Anything else takes the long road,
// which also says what is wrong.
const ASCII_EMAIL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const endsInDigit = (s: string) => {
  const c = s.charCodeAt(s.length - 1);
  return c >= 48 && c <= 57;
};

function refuse(raw: string, why: string): EmailResult {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: shown without the control characters
  const shown = raw.slice(0, 100).replace(/[\u0000-\u001f\u007f]/g, '\uFFFD');
  return { ok: false, reason: `"${shown}" is not a valid email address: ${why}` };
}

/**
 * Trimmed; `+tags` and case kept as written (identity is canonicalEmail's job). An
 * internationalised domain is stored in its punycode form (`bücher.example` becomes
 * `xn--bcher-kva.example`), so both spellings are one address.
 */
export function cleanEmail(raw: unknown): EmailResult {
  if (typeof raw !== 'string') return { ok: false, reason: 'an email address is required' };
  const trimmed = raw.trim();
  if (
    trimmed.length <= MAX_ADDRESS &&
    ASCII_EMAIL.test(trimmed) &&
    trimmed.indexOf('@') <= MAX_LOCAL &&
    !(endsInDigit(trimmed) && /\.\d+$/.test(trimmed))
  ) {
    return { ok: true, email: trimmed };
  }
  if (trimmed.length > 1000) return refuse(trimmed, `longer than ${MAX_ADDRESS} characters`);
  const at = trimmed.lastIndexOf('@');
  if (at < 1 || at === trimmed.length - 1) return refuse(trimmed, 'it needs a name, an @ and a domain');
  const local = trimmed.slice(0, at);
  const domainIn = trimmed.slice(at + 1);
  if ([...local].length > MAX_LOCAL) return refuse(trimmed, `more than ${MAX_LOCAL} characters before the @`);
  const atoms = local.split('.');
  if (atoms.some((a) => a === '')) {
    return refuse(trimmed, 'a dot may not start or end the part before the @, nor follow another dot');
  }
  if (!atoms.every((a) => LOCAL_ATOM.test(a))) {
    return refuse(trimmed, 'the part before the @ holds a character mail servers do not accept');
  }
  let domain = domainIn;
  if (!ASCII.test(domainIn)) {
    domain = domainToASCII(domainIn.normalize('NFC'));
    if (!domain) return refuse(trimmed, 'the domain is not a valid internationalised domain name');
  }
  const lower = domain.toLowerCase();
  if (lower.length > MAX_DOMAIN) return refuse(trimmed, `the domain is longer than ${MAX_DOMAIN} characters`);
  const labels = lower.split('.');
  if (labels.length < 2) return refuse(trimmed, 'the domain needs a dot, as in example.com');
  for (const label of labels) {
    if (label.length > MAX_LABEL)
      return refuse(trimmed, `a part of the domain is longer than ${MAX_LABEL} characters`);
    if (!LABEL.test(label)) return refuse(trimmed, `"${label.slice(0, 70)}" is not a valid part of a domain`);
  }
  if (/^\d+$/.test(labels[labels.length - 1])) return refuse(trimmed, 'the domain ends in a number');
  const email = `${local}@${domain}`;
  if ([...email].length > MAX_ADDRESS) return refuse(trimmed, `longer than ${MAX_ADDRESS} characters`);
  return { ok: true, email };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the whole ASCII range, controls included
const ASCII_ONLY = /^[\u0000-\u007f]*$/;

/**
 * THE identity of an address: trimmed, NFC, lower-cased, with an internationalised domain in
 * punycode. Every lookup, the unique index (contacts.email_key) and the keyed hash use this one
 * function: JavaScript and PostgreSQL lower-case some letters differently (Greek final sigma,
 * Turkish dotted I) and NFC/NFD spell one address two ways, so the database never computes it.
 * ASCII needs none of that, and nearly every address is ASCII: the stream checks 250,000 a
 * second, so that path is one regex test and one toLowerCase.
 */
export function canonicalEmail(email: string): string {
  const t = email.trim();
  if (ASCII_ONLY.test(t)) return t.toLowerCase();
  const n = t.normalize('NFC');
  const at = n.lastIndexOf('@');
  const domain = at >= 0 ? n.slice(at + 1) : '';
  const ascii = domain && !ASCII_ONLY.test(domain) ? domainToASCII(domain) : '';
  return (ascii ? `${n.slice(0, at + 1)}${ascii}` : n).toLowerCase();
}
export function isTimeZone(tz: string): boolean {
  if (!tz || tz.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** An ISO 3166-2 subdivision such as US-FL (upper-cased), or null. */
export function cleanRegion(raw: string): string | null {
  const r = raw.trim().toUpperCase();
  return /^[A-Z]{2}-[A-Z0-9]{1,3}$/.test(r) ? r : null;
}

export function cleanLocale(raw: string): string | null {
  try {
    const [canonical] = Intl.getCanonicalLocales(raw);
    return canonical && /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(canonical) ? canonical : null;
  } catch {
    return null;
  }
}

/** Masks an address for display to someone holding only a link: a•••@example.com */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '•••';
  return `${email[0]}•••${email.slice(at)}`;
}
