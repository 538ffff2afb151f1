// Logs and metric labels never carry email addresses, phone numbers or link tokens (a token is a
// credential). Paths are reduced to templates before anything records them.
const TOKEN_ROUTES = /^\/(u|preferences)\/[^/?#]+/;

export function redactPath(url: string): string {
  const path = url.split('?')[0];
  return path
    .replace(TOKEN_ROUTES, (_, part: string) => `/${part}/:token`)
    .split('/')
    .map((seg) => {
      const s = safeDecode(seg);
      if (s.includes('@')) return ':email';
      if (/^\+?[\d\s().-]{7,}$/.test(s) && /\d{6,}/.test(s.replace(/\D/g, ''))) return ':phone';
      return seg;
    })
    .join('/');
}

function safeDecode(s: string) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
