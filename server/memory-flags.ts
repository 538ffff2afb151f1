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

/** Each process's flags, and the script that passes them. */
const PROCESSES = {
  web: { flags: MEMORY_FLAGS, script: 'npm start' },
  worker: { flags: WORKER_MEMORY_FLAGS, script: 'npm run worker' },
} as const;
export type ProcessKind = keyof typeof PROCESSES;

/** V8 reads `--a_b` as `--a-b`; a flag counts when given with any value. */
const flagName = (arg: string) => arg.split('=')[0].replace(/_/g, '-');

/**
 * Which of a process's flags it lacks, from its own arguments (`process.execArgv`) and
 * `NODE_OPTIONS` (which may carry the first, and refuses the second). A flag given with another
 * value is someone's choice, not missing.
 */
export function missingMemoryFlags(
  execArgv: readonly string[],
  nodeOptions = '',
  kind: ProcessKind = 'web',
): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map(flagName));
  return PROCESSES[kind].flags.filter((flag) => !given.has(flagName(flag)));
}

/** The warning a production process without them logs, or null when it has them. */
export function memoryFlagsWarning(
  execArgv: readonly string[],
  nodeOptions?: string,
  kind: ProcessKind = 'web',
): string | null {
  const missing = missingMemoryFlags(execArgv, nodeOptions, kind);
  if (!missing.length) return null;
  return `Node was started without ${missing.join(' ')}, which ${PROCESSES[kind].script} passes: a stream or an import may take far more memory (docs/operations.md, "Memory"). Pass them on node's command line.`;
}

/** In production, logs the warning when this process lacks a flag (development and tests run the sources). */
export function warnWithoutMemoryFlags(
  env: string,
  logger: { warn(msg: string): void },
  kind: ProcessKind = 'web',
) {
  if (env !== 'production') return;
  const warning = memoryFlagsWarning(process.execArgv, process.env.NODE_OPTIONS, kind);
  if (warning) logger.warn(warning);
}
