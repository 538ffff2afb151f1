// Reading the app's HTML forms as a browser would post them.

export const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** The fields a form's markup posts (hidden, text, checked boxes and radios). */
function fieldsOf(form: string) {
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

/** The fields the preference page's main form posts as rendered. */
export function formOf(html: string) {
  const start = html.indexOf('<form method="post" action="/preferences/');
  return fieldsOf(html.slice(start, html.indexOf('</form>', start)));
}

/**
 * What a browser posts, and where, when the submit button with this name and value is pressed:
 * the fields of the form holding the button, then the button's own name and value.
 */
export function pressOf(html: string, name: string, value: string) {
  const at = html.indexOf(`name="${name}" value="${value}"`);
  if (at < 0) throw new Error(`no button ${name}=${value} on the page`);
  const start = html.lastIndexOf('<form', at);
  const form = html.slice(start, html.indexOf('</form>', at));
  const body = fieldsOf(form);
  body.append(name, value);
  return { action: (/action="([^"]*)"/.exec(form)?.[1] ?? '').replaceAll('&amp;', '&'), body };
}
