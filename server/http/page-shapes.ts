// Recipient pages rendered once per shape. Two people who open the same unsubscribe link page in
// the same language, for the same topic and state, under the same brand, get the same page but
// for a few strings of their own: the link's token, the form's CSRF token, the masked address,
// a date. Rendering the whole template for every request was a fifth of a page's server CPU
// (docs/scaling.md, session 10); filling a page already rendered with those strings is a join.
//
// How: a route marks each string of its own person with personal(). Everything else it hands
// the template (the state, the topics, the brand, the language) is the page's shape, written
// into a key. The first time a shape recurs, the template is rendered with a unique marker in
// place of each personal string; the result, cut at the markers, is kept, and every later page
// of that shape is the kept text with the person's strings, HTML-escaped as the template's <%= %>
// escapes them, put back in.
//
// The contract a template keeps: a personal string is only printed (inside <%= %>, alone or
// within a larger printed string), never inspected. Whether it is empty is part of the shape
// (so `if (name)` works); its content and length are not. When a shape is first kept, its fill is
// compared with the template's own rendering of the same request, and a shape whose fill differs
// (a template that does inspect or transform a personal string) is rendered whole from then on,
// with a warning in the log. test/integration/page-shapes.test.ts renders every state of the two
// shaped pages both ways.
//
// What is kept holds no one's data: a shape is rendered with markers, never a person's strings,
// and its key is what the route did not mark (a person's strings a route forgot to mark make
// their own key: a page that is never filled, not a page shown to someone else).
import { randomBytes } from 'node:crypto';
import ejs from 'ejs';

/** A string of the page's own person, not of its shape: printed, never inspected. */
export class Personal {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
}

export const personal = (value: string | null | undefined) => new Personal(value ?? '');

type Render = (view: string, locals: object) => string;
/**
 * A kept page: its text between the personal strings, already in UTF-8 (a page with one
 * character outside Latin-1 is a two-byte string, which Node encodes ten times slower than a
 * one-byte one: 8 µs for 3 KB here, most of what filling a page would otherwise cost), the
 * bytes they add up to, and which personal string goes in each gap.
 */
type Kept = { texts: Buffer[]; bytes: number; holes: number[] };
type Shape = Kept | 'whole';

const isPlain = (v: object) => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * A value's shape as a key, its personal strings pushed onto `own`; null when the value holds
 * something whose content a key cannot capture (a function not named in `named`, a class
 * instance such as an Intl formatter or a Date): such a page is rendered whole. Strings are
 * written with their length, so no content can be mistaken for structure.
 */
function describe(v: unknown, named: Map<unknown, string>, own: string[]): string | null {
  switch (typeof v) {
    case 'string':
      return `s${v.length}:${v}`;
    case 'number':
      return `d${v};`;
    case 'boolean':
      return v ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'function': {
      const name = named.get(v);
      return name === undefined ? null : `@${name};`;
    }
    case 'object': {
      if (v === null) return 'n';
      const name = named.get(v);
      if (name !== undefined) return `@${name};`;
      if (v instanceof Personal) {
        own.push(v.value);
        return v.value === '' ? 'P0' : 'P1';
      }
      let key: string;
      if (Array.isArray(v)) {
        key = '[';
        for (const item of v) {
          const k = describe(item, named, own);
          if (k === null) return null;
          key += k;
        }
        return `${key}]`;
      }
      if (!isPlain(v)) return null;
      key = '{';
      for (const prop in v) {
        const k = describe((v as Record<string, unknown>)[prop], named, own);
        if (k === null) return null;
        key += `${prop.length}:${prop}${k}`;
      }
      return `${key}}`;
    }
    default:
      return null;
  }
}

/**
 * The locals with every Personal replaced by what `put` makes of it (given its index in
 * describe's order); named objects are passed as they are.
 */
function substitute(
  v: unknown,
  named: Map<unknown, string>,
  put: (p: Personal, i: number) => string,
  counter = { i: 0 },
): unknown {
  if (v instanceof Personal) return put(v, counter.i++);
  if (v === null || typeof v !== 'object' || named.has(v)) return v;
  if (Array.isArray(v)) return v.map((item) => substitute(item, named, put, counter));
  if (!isPlain(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = substitute((v as Record<string, unknown>)[k], named, put, counter);
  return out;
}

export interface PageShapesOptions {
  /** Renders a view with plain locals (the app's view engine). */
  render: Render;
  /** Whether to keep shapes at all (off in development, where templates change under a running server). */
  enabled: () => boolean;
  /** Objects and functions handed to every page that stand for themselves in a key (the string tables, format). */
  named?: Map<unknown, string>;
  /** How many shapes (and shapes seen once) to remember; the oldest go first. */
  max?: number;
  /** Told once per view when a shape turns out not to be fillable. */
  onWhole?: (view: string) => void;
}

export class PageShapes {
  private readonly shapes = new Map<string, Shape | 'seen'>();
  private readonly nonce = randomBytes(6).toString('hex');
  private readonly marker = new RegExp(`\u0001${this.nonce}:(\\d+)\u0001`);
  private readonly warned = new Set<string>();
  private readonly max: number;
  private readonly named: Map<unknown, string>;
  /** Pages rendered whole, filled from a kept shape, and shapes kept: for tests and the curious. */
  readonly counts = { whole: 0, filled: 0, kept: 0 };

  private readonly opts: PageShapesOptions;

  constructor(opts: PageShapesOptions) {
    this.opts = opts;
    this.max = opts.max ?? 512;
    this.named = opts.named ?? new Map();
  }

  /**
   * The view rendered with these locals (Personal strings as their text). With `shaped`, the
   * caller says every string of the page's own person in them is marked personal(), and the
   * page may be filled from a kept shape; without it, the page is rendered whole.
   */
  render(view: string, locals: object, shaped = false): string | Buffer {
    if (!shaped || !this.opts.enabled()) return this.whole(view, locals);
    const own: string[] = [];
    const described = describe(locals, this.named, own);
    if (described === null) return this.whole(view, locals);
    const k = `${view}\n${described}`;
    const shape = this.shapes.get(k);
    if (shape && shape !== 'seen' && shape !== 'whole') {
      this.counts.filled++;
      return fill(shape, own);
    }
    if (shape === 'whole') return this.whole(view, locals);
    // A shape seen for the first time is only remembered: a page whose shape never recurs (a
    // person's unusual mix of choices) costs one rendering, not the two that keeping it takes.
    if (!shape) {
      this.remember(k, 'seen');
      return this.whole(view, locals);
    }
    return this.keep(k, view, locals, own);
  }

  private whole(view: string, locals: object): string {
    this.counts.whole++;
    return this.opts.render(view, substitute(locals, this.named, (p) => p.value) as object);
  }

  private keep(k: string, view: string, locals: object, own: string[]): string {
    const marked = this.opts.render(
      view,
      substitute(locals, this.named, (p, i) =>
        p.value === '' ? '' : `\u0001${this.nonce}:${i}\u0001`,
      ) as object,
    );
    const pieces = marked.split(this.marker);
    const texts = pieces.filter((_, i) => i % 2 === 0).map((text) => Buffer.from(text, 'utf8'));
    const shape: Kept = {
      texts,
      bytes: texts.reduce((sum, b) => sum + b.length, 0),
      holes: pieces.filter((_, i) => i % 2 === 1).map(Number),
    };
    const html = this.whole(view, locals);
    // The proof that this shape may be filled: the fill of this very request is the page.
    if (!fill(shape, own).equals(Buffer.from(html, 'utf8'))) {
      this.remember(k, 'whole');
      if (!this.warned.has(view)) {
        this.warned.add(view);
        this.opts.onWhole?.(view);
      }
      return html;
    }
    this.remember(k, shape);
    this.counts.kept++;
    return html;
  }

  private remember(k: string, shape: Shape | 'seen') {
    this.shapes.delete(k);
    if (this.shapes.size >= this.max) this.shapes.delete(this.shapes.keys().next().value as string);
    this.shapes.set(k, shape);
  }
}

/** The page of a kept shape with these personal strings, as UTF-8. */
function fill(shape: Kept, own: string[]): Buffer {
  const { texts, holes } = shape;
  const escaped = new Array<string>(holes.length);
  let bytes = shape.bytes;
  for (let i = 0; i < holes.length; i++) {
    escaped[i] = escapeText(own[holes[i]]);
    bytes += Buffer.byteLength(escaped[i], 'utf8');
  }
  const page = Buffer.allocUnsafe(bytes);
  let at = texts[0].copy(page, 0);
  for (let i = 0; i < holes.length; i++) {
    at += page.write(escaped[i], at, 'utf8');
    at += texts[i + 1].copy(page, at);
  }
  return page;
}

const NEEDS_ESCAPE = /[&<>"']/;
/** Exactly what the template's <%= %> does to a string (EJS's own escape), skipped when there is nothing to escape. */
const escapeText = (text: string) => (NEEDS_ESCAPE.test(text) ? ejs.escapeXML(text) : text);
