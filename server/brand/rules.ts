// What a brand may be, and colours that stay readable. Pure: the console and the start-up
// configuration both check a brand here, and the pages' stylesheet is computed here.

export interface Brand {
  /** The company that sends the mail: names every page, email and consent disclosure. */
  name: string;
  /** An https (or site-relative) image URL; shown at most 48 px high. */
  logoUrl: string | null;
  /** #rrggbb; made darker when needed so text on it and links in it stay readable (WCAG AA). */
  color: string;
  /** CAN-SPAM: the sender's postal address, in the footer of pages and marketing mail. */
  postalAddress: string | null;
  privacyUrl: string | null;
  /** Where people get help: a URL, a phone number or an address. */
  supportContact: string;
}

export const BRAND_FIELDS = [
  'name',
  'logoUrl',
  'color',
  'postalAddress',
  'privacyUrl',
  'supportContact',
] as const;
export const DEFAULT_COLOR = '#0a5bd3';

const URL_OK = (v: string) => {
  if (v.startsWith('/') && !v.startsWith('//')) return true;
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
};

/** Problems with a brand, one per field, for a 400 or a console form. */
export function brandProblems(b: Partial<Record<(typeof BRAND_FIELDS)[number], unknown>>) {
  const problems: { field: string; message: string }[] = [];
  const text = (field: string, v: unknown, max: number, required = false) => {
    if (v === null || v === undefined || v === '') {
      if (required) problems.push({ field, message: 'required' });
      return;
    }
    if (typeof v !== 'string' || v.length > max)
      problems.push({ field, message: `at most ${max} characters` });
  };
  text('name', b.name, 60, true);
  text('postalAddress', b.postalAddress, 300);
  text('supportContact', b.supportContact, 200, true);
  for (const field of ['logoUrl', 'privacyUrl'] as const) {
    const v = b[field];
    if (v === null || v === undefined || v === '') continue;
    if (typeof v !== 'string' || v.length > 500 || !URL_OK(v))
      problems.push({
        field,
        message: 'an http(s) address, or a path on this site such as /static/logo.png',
      });
  }
  if (b.color !== undefined && (typeof b.color !== 'string' || !/^#[0-9a-fA-F]{6}$/.test(b.color)))
    problems.push({ field: 'color', message: 'a colour as #rrggbb, e.g. #0a5bd3' });
  return problems;
}

// ---- colour contrast (WCAG 2.1 relative luminance) -----------------------------------------

function channels(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function luminance(hex: string) {
  const [r, g, b] = channels(hex).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a: string, b: string) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const toHex = (rgb: number[]) => `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, '0')).join('')}`;

/**
 * The brand colour as the pages use it: darkened step by step until it reads at 4.5:1 on the
 * page's light backgrounds (links, outlined buttons), with white or near-black text on it,
 * whichever reads better. A colour that already passes is used as given.
 */
export function accessibleAccent(color: string): { accent: string; ink: string } {
  let rgb = channels(/^#[0-9a-fA-F]{6}$/.test(color) ? color : DEFAULT_COLOR);
  let accent = toHex(rgb);
  for (let i = 0; i < 40 && Math.min(contrast(accent, '#ffffff'), contrast(accent, '#f6f8fa')) < 4.6; i++) {
    rgb = rgb.map((c) => c * 0.92) as [number, number, number];
    accent = toHex(rgb);
  }
  const ink = contrast(accent, '#ffffff') >= contrast(accent, '#1b1f24') ? '#ffffff' : '#1b1f24';
  return { accent, ink };
}

/** The stylesheet that carries the brand's colour (the CSP allows no inline styles). */
export function brandCss(brand: Pick<Brand, 'color'>) {
  const { accent, ink } = accessibleAccent(brand.color);
  return `:root{--accent:${accent};--accent-ink:${ink}}\n`;
}
