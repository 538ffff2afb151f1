// Pure validation of contact and account fields. Messages are written for the person who sent
// the request: what is wrong and what would be right.
export const MAX_NAME = 200;

const EMAIL =
  /^[^\s@"<>(),;:\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** Trimmed; `+tags` and case kept as written (identity is case-insensitive). */
export function cleanEmail(raw: unknown): { ok: true; email: string } | { ok: false; reason: string } {
  if (typeof raw !== 'string') return { ok: false, reason: 'an email address is required' };
  const email = raw.trim();
  if (email.length > 320 || !EMAIL.test(email))
    return { ok: false, reason: `"${raw.slice(0, 100)}" is not a valid email address` };
  return { ok: true, email };
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
