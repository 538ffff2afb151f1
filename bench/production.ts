// How `npm start` runs the server, for the benchmarks to run the same: its Node flags, and the
// compiled JavaScript in dist/ (built here first, as npm start's prestart builds it). A measure
// of the TypeScript sources under type stripping would carry the stripper's ~20 MB and not be
// what production runs. The baseline and the import run compiled too, from dist/bench.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');

/** The flags `npm start` gives Node (BENCH_NODE_FLAGS to try others). */
export const NODE_FLAGS = (
  process.env.BENCH_NODE_FLAGS ??
  /\bnode\s+((?:--\S+\s+)*)dist\/server\/index\.js/.exec(
    JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.start,
  )?.[1] ??
  ''
)
  .split(' ')
  .filter(Boolean);

/** Builds dist/ (npm run build) and returns the compiled path of a source file (server/index.ts → dist/server/index.js). */
export function compiled(source: string): string {
  if (!built) {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
    built = true;
  }
  return path.join(ROOT, 'dist', source.replace(/\.ts$/, '.js'));
}
let built = false;
