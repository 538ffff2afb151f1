// What providers and mail clients send is cleaned, never refused (SPEC "Input hygiene"): a
// refused opt-out is a lost opt-out. Control characters (NUL above all, which PostgreSQL cannot
// store in text) are dropped and the rest applied.

// C0 controls and DEL; tab, line feed and carriage return are left to the caller's trim.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/** A provider's string without control characters (undefined for anything not a string). */
export function cleanProviderText(value: unknown): string | undefined {
  return typeof value === 'string' ? value.replace(CONTROL, '') : undefined;
}

/** A provider's JSON body parsed with every string cleaned; undefined when it is not JSON. */
export function cleanProviderJson(text: string): unknown {
  try {
    return JSON.parse(text.replace(CONTROL, ''), (_key, value) =>
      typeof value === 'string' ? value.replace(CONTROL, '') : value,
    );
  } catch {
    return undefined;
  }
}

/** Every string field of a parsed form body cleaned in place (provider and one-click forms). */
export function cleanProviderForm(body: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === 'string') body[k] = v.replace(CONTROL, '');
    else if (Array.isArray(v)) body[k] = v.map((x) => (typeof x === 'string' ? x.replace(CONTROL, '') : x));
  }
  return body;
}
