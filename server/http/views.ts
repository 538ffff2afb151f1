// The view engine: EJS, with the partials a page includes without data of its own written into
// the page once, when it is first compiled. EJS's include() copies every local (twice) and
// resolves the path on every call; a recipient page has up to eight of them, and those copies
// were a seventh of the page's time. The page reads the same either way: an include without
// data sees exactly the page's locals.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ejs from 'ejs';

/** Templates of the recipient pages (not the console's). */
const RECIPIENT = /^(preferences\/|error\.ejs$)/;

const PLAIN_INCLUDE = /<%-\s*include\(\s*'([^']+)'\s*\)\s*%>/g;

// Names a template may be handed as plain variables (not reserved words; EJS's own are kept).
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally ' +
    'for function if import in instanceof new null return super switch this throw true try typeof var void ' +
    'while with yield let static implements interface package private protected public await arguments eval ' +
    'locals escapeFn include rethrow __output __append __line __lines __filename __locals'
  ).split(' '),
);

export function viewEngine(viewsRoot: string, cache: () => boolean) {
  const compiled = new Map<string, ejs.TemplateFunction>();
  const inline = (text: string, from: string, depth: number): string =>
    text.replace(PLAIN_INCLUDE, (_, name: string) => {
      if (depth > 8) throw new Error(`${from}: includes nest deeper than 8 (a cycle?)`);
      const file = path.join(viewsRoot, `${name}.ejs`);
      return inline(readFileSync(file, 'utf8'), file, depth + 1);
    });
  // A template is compiled per set of local names it is given: the locals become plain
  // variables (EJS's destructuredLocals) rather than a with() block, which V8 cannot optimise
  // (it made a page's own code a tenth of the request). A name not given is undeclared, as it
  // was under with(): `typeof x` is 'undefined', and using it throws.
  const template = (file: string, names: string) => {
    const key = `${file}\n${names}`;
    let fn = compiled.get(key);
    if (!fn) {
      // Includes with data of their own stay EJS includes, written from the views root.
      fn = ejs.compile(inline(readFileSync(file, 'utf8'), file, 0), {
        filename: file,
        root: viewsRoot,
        _with: false,
        destructuredLocals: names.split(',').filter((n) => IDENTIFIER.test(n) && !RESERVED.has(n)),
        // The locals are the app's own object for this render (never a request's), so EJS
        // need not copy them.
        unsafePrototypeLocals: true,
        // Recipient pages drop their templates' indentation and blank lines (a tenth of the
        // bytes of every page sent; the console keeps its <pre> blocks as written).
        rmWhitespace: RECIPIENT.test(path.relative(viewsRoot, file)),
      } as ejs.Options) as ejs.TemplateFunction;
      if (cache()) compiled.set(key, fn);
    }
    return fn;
  };
  const renderFile = (file: string, data: object) =>
    template(file, Object.keys(data).join(','))(data as ejs.Data) as string;
  return {
    /** Express's engine callback (res.render). */
    engine: (file: string, data: object, cb: (err: unknown, html?: string) => void) => {
      let html: string;
      try {
        html = renderFile(file, data);
      } catch (err) {
        return cb(err);
      }
      cb(null, html);
    },
    /** A view by its name under the views root ('preferences/unsubscribe'), with exactly these locals. */
    render: (view: string, data: object) => renderFile(path.join(viewsRoot, `${view}.ejs`), data),
  };
}
