// The house's boundaries, checked so they hold: no import cycles among the server's modules (type
// imports aside: they vanish at run time), and the one rule stays pure: decide.ts and the other
// pure rule modules import no database, HTTP or I/O module.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';

const ROOT = path.resolve(import.meta.dirname, '../../server');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Run-time imports of a module: relative, not `import type`. */
function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'(\.[^']+)';/gms)) {
    out.push(path.resolve(path.dirname(file), m[1]));
  }
  return out;
}

describe('the import graph', () => {
  const graph = new Map(files(ROOT).map((f) => [f, imports(f)]));

  it('has no cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (f: string, trail: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(f)), f].map((x) => path.relative(ROOT, x)).join(' -> '));
        return;
      }
      state.set(f, 'visiting');
      for (const g of graph.get(f) ?? []) if (graph.has(g)) visit(g, [...trail, f]);
      state.set(f, 'done');
    };
    for (const f of graph.keys()) visit(f, []);
    expect(cycles).to.deep.equal([]);
  });

  it('keeps the pure rules pure', () => {
    const pure = [
      'permission/decide.ts',
      'permission/telephone-rules.ts',
      'consent/rules.ts',
      'consent/keywords.ts',
      'contacts/rules.ts',
    ];
    for (const p of pure) {
      const deps = (graph.get(path.join(ROOT, p)) ?? []).map((d) => path.relative(ROOT, d));
      const impure = deps.filter((d) => !pure.includes(d) && !d.endsWith('topics.ts'));
      expect(impure, p).to.deep.equal([]);
    }
  });
});
