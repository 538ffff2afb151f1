// Reading the app's HTML forms as a browser would post them.

export const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** The fields the preference page's main form posts as rendered (hidden, text, checked boxes and radios). */
export function formOf(html: string) {
  const start = html.indexOf('<form method="post" action="/preferences/');
  const form = html.slice(start, html.indexOf('</form>', start));
  const out = new URLSearchParams();
  for (const m of form.matchAll(/<input ([^>]*)>/g)) {
    const attr = (n: string) => new RegExp(`${n}="([^"]*)"`).exec(m[1])?.[1];
    const type = attr('type');
    if ((type === 'checkbox' || type === 'radio') && !/\bchecked\b/.test(m[1])) continue;
    const name = attr('name');
    if (name) out.append(name, (attr('value') ?? '').replaceAll('&amp;', '&'));
  }
  return out;
}
