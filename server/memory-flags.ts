// The Node flags `npm start` and `npm run worker` pass to keep memory in bounds (the scripts in
// package.json; docs/operations.md, "Memory", says what each saves). A production process started
// some other way (a container's own command, a process manager) runs without them and can take
// half as much memory again during a stream or an import; it says so in its first log lines.

/** The web process's flags, as `npm start` passes them. A test holds package.json's scripts to these lists. */
export const MEMORY_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=25'] as const;

/**
 * The worker's (`npm run worker`, and `bench:import`, which measures an import as the worker runs
 * it): the same young generation, and an old generation let grow to twice what survived its last
 * full collection. The web process keeps a quarter for its streams' RSS; a worker streams
 * nothing, and an import's batches, held across their database round trips, reach the old
 * generation: at a quarter a million-row import ran some 200 full collections, about 7 µs a row
 * of Node's 34, for 20-30 MB less at its peak (docs/operations.md, "Memory").
 */
export const WORKER_MEMORY_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=100'] as const;

/** V8 reads `--a_b` as `--a-b`; a flag counts when given with any value. */
const flagName = (arg: string) => arg.split('=')[0].replace(/_/g, '-');

/**
 * Which of MEMORY_FLAGS this process lacks, from its own arguments (`process.execArgv`) and
 * `NODE_OPTIONS` (which may carry the first, and refuses the second). A flag given with another
 * value is someone's choice, not missing.
 */
export function missingMemoryFlags(
  execArgv: readonly string[],
  nodeOptions = '',
  wanted: readonly string[] = MEMORY_FLAGS,
): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map(flagName));
  return wanted.filter((flag) => !given.has(flagName(flag)));
}

/** The warning a production process without them logs, or null when it has them. */
export function memoryFlagsWarning(
  execArgv: readonly string[],
  nodeOptions?: string,
  process: 'web' | 'worker' = 'web',
): string | null {
  const missing = missingMemoryFlags(
    execArgv,
    nodeOptions,
    process === 'web' ? MEMORY_FLAGS : WORKER_MEMORY_FLAGS,
  );
  if (!missing.length) return null;
  return `Node was started without ${missing.join(' ')}, which ${process === 'web' ? 'npm start' : 'npm run worker'} passes: a stream or an import may take far more memory (docs/operations.md, "Memory"). Pass them on node's command line.`;
}

/** In production, logs the warning when this process lacks a flag (development and tests run the sources). */
export function warnWithoutMemoryFlags(
  env: string,
  logger: { warn(msg: string): void },
  kind: 'web' | 'worker' = 'web',
) {
  if (env !== 'production') return;
  const warning = memoryFlagsWarning(process.execArgv, process.env.NODE_OPTIONS, kind);
  if (warning) logger.warn(warning);
}
