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

// ---- what callers send to our own API and console: refused with a 400 that names the field ----

/** Fields that hold free text, where line breaks are ordinary (bodies of mail, notes). */
const FREE_TEXT = new Set(['html', 'text', 'note', 'description']);
/** Deeper than any body this service accepts (a batch of messages is four levels). */
export const MAX_JSON_DEPTH = 6;

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const LINE_CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export interface InputProblem {
  field: string;
  message: string;
}

/** Every problem in a parsed value: control characters in strings, nesting too deep. */
export function inputProblems(
  value: unknown,
  field = 'body',
  depth = 0,
  out: InputProblem[] = [],
): InputProblem[] {
  if (out.length >= 20) return out;
  if (typeof value === 'string') {
    // LINE_CONTROL finds all TEXT_CONTROL finds and more: a clean string (nearly all) is one test.
    if (!LINE_CONTROL.test(value)) return out;
    const leaf =
      field
        .replace(/\[\d+\]$/, '')
        .split('.')
        .pop() ?? field;
    const bad = (FREE_TEXT.has(leaf) ? TEXT_CONTROL : LINE_CONTROL).exec(value);
    if (bad) {
      const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
      out.push({ field, message: `contains the control character U+${code}, which is not allowed here` });
    }
    return out;
  }
  if (value === null || typeof value !== 'object') return out;
  if (depth >= MAX_JSON_DEPTH) {
    out.push({ field, message: 'is nested deeper than this request allows' });
    return out;
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) inputProblems(v, `${field}[${i}]`, depth + 1, out);
    return out;
  }
  for (const [k, v] of Object.entries(value)) {
    const name = field === 'body' ? k : `${field}.${k}`;
    if (LINE_CONTROL.test(k)) out.push({ field, message: 'has a field name with a control character' });
    else inputProblems(v, name, depth + 1, out);
  }
  return out;
}

/** Every problem in a request's path and query. */
export function urlProblems(req: { path: string; query: unknown }): InputProblem[] {
  let path = req.path;
  try {
    if (path.includes('%')) path = decodeURIComponent(path);
  } catch {
    return [{ field: 'path', message: 'is not valid percent-encoded UTF-8' }];
  }
  const out: InputProblem[] = [];
  if (LINE_CONTROL.test(path)) out.push({ field: 'path', message: 'contains a control character' });
  for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
    inputProblems(v, k, MAX_JSON_DEPTH - 1, out);
  }
  return out;
}
