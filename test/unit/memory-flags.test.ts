import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import {
  MEMORY_FLAGS,
  memoryFlagsWarning,
  missingMemoryFlags,
  WORKER_MEMORY_FLAGS,
} from '../../server/memory-flags.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const scripts: Record<string, string> = JSON.parse(
  readFileSync(path.join(ROOT, 'package.json'), 'utf8'),
).scripts;

/** The Node flags a script passes before its entry file. */
function nodeFlags(script: string): string[] {
  const m = /\bnode\s+((?:--\S+\s+)*)dist\//.exec(script);
  if (!m) throw new Error(`not a node script: ${script}`);
  return m[1].split(/\s+/).filter(Boolean);
}

describe('memory flags', () => {
  for (const [name, kind, flags] of [
    ['start', 'web', MEMORY_FLAGS],
    ['worker', 'worker', WORKER_MEMORY_FLAGS],
    ['bench:import', 'worker', WORKER_MEMORY_FLAGS],
  ] as const) {
    it(`npm run ${name} passes every one of them`, () => {
      expect(missingMemoryFlags(nodeFlags(scripts[name]), '', kind)).to.deep.equal([]);
      for (const flag of flags) expect(nodeFlags(scripts[name])).to.include(flag);
    });
  }

  it("names the worker's own flags to a worker started without them", () => {
    const warning = memoryFlagsWarning([], undefined, 'worker');
    expect(warning).to.include('--max-semi-space-size=16 --heap-growing-percent=100');
    expect(warning).to.include('npm run worker');
    expect(
      memoryFlagsWarning(['--max-semi-space-size=16', '--heap-growing-percent=100'], '', 'worker'),
    ).to.equal(null);
  });

  it('names what a process started with plain node lacks', () => {
    expect(missingMemoryFlags([])).to.deep.equal([...MEMORY_FLAGS]);
    expect(missingMemoryFlags(['--max-semi-space-size=16'])).to.deep.equal(['--heap-growing-percent=25']);
    const warning = memoryFlagsWarning(['--enable-source-maps']);
    expect(warning).to.include('--max-semi-space-size=16 --heap-growing-percent=25');
    expect(warning).to.include('docs/operations.md');
  });

  it('counts NODE_OPTIONS, underscores, and another value as given', () => {
    expect(missingMemoryFlags(['--heap_growing_percent=30'], ' --max-semi-space-size=8 ')).to.deep.equal([]);
    expect(memoryFlagsWarning(['--heap-growing-percent=25', '--max-semi-space-size=16'])).to.equal(null);
  });
});
