// The house rules of server/, checked over the import graph so they hold after whoever wrote
// them has moved on (server/README.md explains them):
// - no import cycles between modules (type-only imports aside: they vanish at run time);
// - a part uses another part only through its door (service.ts; a few library parts name theirs);
// - SQL stays behind services: no routes file imports a queries.ts or reaches for the database;
// - the inside knows nothing of HTTP: services, queries and rules import neither express nor http/;
// - the rules that decide (decide.ts, telephone-rules.ts, */rules.ts) are pure: no database, no clock.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const SERVER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../server');

/** Each part's door: the modules other parts may import. */
const DOORS: Record<string, string[]> = {
  admin: ['service.ts', 'api-keys.ts', 'staff.ts'],
  consent: ['service.ts', 'confirmation.ts'],
  // the dashboard's arithmetic is pure; the console's page and charts draw with it
  dashboard: ['service.ts', 'rules.ts'],
  contacts: ['service.ts', 'profile.ts'],
  webhooks: ['service.ts', 'dispatcher.ts'],
  ledger: ['ledger.ts', 'export.ts'],
  jobs: ['jobs.ts'],
  tokens: ['tokens.ts'],
  i18n: ['index.ts'],
};
const DEFAULT_DOOR = ['service.ts'];
/** The composition root: wires every part together, so it may import any module. */
const ROOTS = /^(app|api|index|worker|cli|boot)\.ts$/;
/** Pure modules (no I/O): other pure modules and the shared top-level ones may import them directly. */
const PURE_IMPORTABLE = /\/rules\.ts$|^mail\/signature\.ts$|^permission\/decide\.ts$/;
/** The edge: may reach into any part's door, and is the only place express and http/ are used. */
const EDGE_FILES =
  /^(app|api|index|worker|cli|boot)\.ts$|^http\/|\/routes\.ts$|^admin\/(?!service|api-keys|staff|passwords)|\/([a-z]+-)?webhook\.ts$/;
const PURE =
  /^permission\/(decide|telephone-rules)\.ts$|\/rules\.ts$|^consent\/keywords\.ts$|^contacts\/phone\.ts$|^domain\.ts$|^keyed-hash\.ts$|^hmac\.ts$/;

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
  spec: string;
}

function files(dir = SERVER): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  const re = /^(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*'([^']+)';/gms;
  for (const m of text.matchAll(re)) {
    const spec = m[4];
    const names = m[3];
    const typeOnly =
      Boolean(m[2]) ||
      (/^\{[^}]*\}$/s.test(names.trim()) &&
        names
          .replace(/[{}]/g, '')
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean)
          .every((n) => n.startsWith('type ')));
    const to = spec.startsWith('.') ? path.relative(SERVER, path.resolve(path.dirname(file), spec)) : spec;
    out.push({ from: path.relative(SERVER, file), to, typeOnly, spec });
  }
  return out;
}

const all = files().flatMap(importsOf);
const local = all.filter((i) => !i.to.startsWith('..') && i.to.endsWith('.ts') && !path.isAbsolute(i.to));
const partOf = (f: string) => (f.includes('/') ? f.split('/')[0] : null);

describe('house rules over the import graph', () => {
  it('has no import cycles', () => {
    const graph = new Map<string, string[]>();
    for (const i of local.filter((x) => !x.typeOnly)) graph.set(i.from, [...(graph.get(i.from) ?? []), i.to]);
    // Tarjan's strongly connected components: any with more than one module is a cycle.
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const on = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      on.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
        } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
      }
      if (low.get(v) === idx.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop() as string;
          on.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1) cycles.push(scc.sort());
      }
    };
    for (const v of graph.keys()) if (!idx.has(v)) visit(v);
    expect(cycles).to.deep.equal([]);
  });

  it('lets a part use another only through its door', () => {
    const bad = local
      .filter((i) => {
        const [a, b] = [partOf(i.from), partOf(i.to)];
        if (!b || a === b || b === 'http' || ROOTS.test(i.from)) return false;
        if (PURE_IMPORTABLE.test(i.to) && (a === null || PURE.test(i.from))) return false;
        const door = DOORS[b] ?? DEFAULT_DOOR;
        return !door.includes(path.basename(i.to));
      })
      .map((i) => `${i.from} -> ${i.to}`);
    expect(bad).to.deep.equal([]);
  });

  it('keeps SQL behind services: routes import no queries and hold no database handle', () => {
    const routeFiles = files().filter((f) =>
      /\/routes\.ts$|-pages\.ts$|admin\/webhooks\.ts$|\/([a-z]+-)?webhook\.ts$/.test(f),
    );
    const bad: string[] = [];
    for (const f of routeFiles) {
      const rel = path.relative(SERVER, f);
      for (const i of importsOf(f)) if (i.to.endsWith('queries.ts')) bad.push(`${rel} imports ${i.to}`);
      const text = readFileSync(f, 'utf8');
      const uses = text.match(/\.db\.knex|\bknex\(|\.transaction\(/g) ?? [];
      if (uses.length) bad.push(`${rel} touches the database ${uses.length} times`);
    }
    expect(bad).to.deep.equal([]);
  });

  it('keeps SQL in queries.ts: services name their statements instead of writing them', () => {
    const services = files().filter((f) => /\/(service|profile)\.ts$/.test(f));
    expect(services.length).to.be.at.least(8);
    const bad: string[] = [];
    for (const f of services) {
      const text = readFileSync(f, 'utf8');
      const sqlCalls =
        text.match(/\b(knex|trx|q|sql\(\w+\))(<\w+>)?\(\s*['"`](\w+)( as \w+)?['"`]\s*\)\s*\.|\.raw\(/g) ??
        [];
      if (sqlCalls.length) bad.push(`${path.relative(SERVER, f)}: ${sqlCalls.join(' ')}`);
    }
    expect(bad).to.deep.equal([]);
  });

  it('keeps HTTP at the edge: services, queries and rules import neither express nor http/', () => {
    const bad = all
      .filter((i) => !EDGE_FILES.test(i.from) && !i.typeOnly)
      .filter((i) => i.to === 'express' || i.to.startsWith('http/'))
      .map((i) => `${i.from} -> ${i.to}`);
    expect(bad).to.deep.equal([]);
  });

  it('keeps the deciding rules pure: they import only other pure modules and no I/O', () => {
    const pure = all.filter((i) => PURE.test(i.from));
    expect(pure.length).to.be.greaterThan(3);
    const bad = pure
      .filter((i) =>
        i.to.endsWith('.ts')
          ? !PURE.test(i.to) && !i.typeOnly
          : ['knex', 'pg', 'express', 'node:fs', 'node:fs/promises', 'node:net', 'node:http'].includes(i.to),
      )
      .map((i) => `${i.from} -> ${i.to}`);
    expect(bad).to.deep.equal([]);
  });
});
