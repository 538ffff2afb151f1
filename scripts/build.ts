// npm run build (and so npm start and npm run worker): compiles server/, db/ and bench/ to dist/
// with TypeScript's compiler in emit-only mode. Incremental: a build with nothing changed writes
// no file, so a restart never rewrites what a running process may still load. Under a lock, so
// processes started together from one directory (web and worker under foreman or heroku local)
// do not write the same files at once: the second waits, then finds nothing to do. Output whose
// source is gone is removed (a renamed migration must not run twice from its old compiled copy).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'dist');
const LOCK = path.join(ROOT, 'dist.lock');
/** A lock older than this was left by a build that died (a build takes about a second). */
const STALE_MS = 60_000;

function lockAge() {
  try {
    return Date.now() - statSync(LOCK).mtimeMs;
  } catch {
    return null; // gone meanwhile
  }
}

async function takeLock() {
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(LOCK); // atomic: exactly one process creates it
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = lockAge();
    if (age !== null && age > STALE_MS) {
      process.stderr.write(`build: taking over a lock left ${Math.round(age / 1000)} s ago (${LOCK})\n`);
      rmSync(LOCK, { recursive: true, force: true });
      continue;
    }
    if (waited && waited % 10_000 === 0)
      process.stderr.write('build: waiting for another build to finish…\n');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Removes dist/x.js (and its map) when x.ts is no longer there. */
function removeOrphans() {
  if (!existsSync(DIST)) return [];
  const removed: string[] = [];
  for (const file of readdirSync(DIST, { recursive: true }) as string[]) {
    if (!file.endsWith('.js')) continue;
    if (existsSync(path.join(ROOT, file.replace(/\.js$/, '.ts')))) continue;
    rmSync(path.join(DIST, file));
    rmSync(path.join(DIST, `${file}.map`), { force: true });
    removed.push(file);
  }
  return removed;
}

await takeLock();
let status: number | null = 1;
try {
  // The package's own bin (its exports do not name it), run on this Node.
  const pkg = createRequire(import.meta.url).resolve('typescript/package.json');
  const tsc = path.join(path.dirname(pkg), 'bin', 'tsc');
  status = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT,
    stdio: 'inherit',
  }).status;
  if (status === 0) {
    const removed = removeOrphans();
    if (removed.length) process.stderr.write(`build: removed ${removed.join(', ')} from dist/ (no source)\n`);
  }
} finally {
  rmSync(LOCK, { recursive: true, force: true });
}
process.exit(status ?? 1);
