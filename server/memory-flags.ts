// The Node flags `npm start` and `npm run worker` pass to keep memory in bounds (the scripts in
// package.json; docs/operations.md, "Memory", says what each saves). A production process started
// some other way (a container's own command, a process manager) runs without them and can take
// half as much memory again during a stream or an import; it says so in its first log lines.

/** The flags, as the scripts pass them. A test holds package.json's scripts to this list. */
export const MEMORY_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=25'] as const;

/** V8 reads `--a_b` as `--a-b`; a flag counts when given with any value. */
const flagName = (arg: string) => arg.split('=')[0].replace(/_/g, '-');

/**
 * Which of MEMORY_FLAGS this process lacks, from its own arguments (`process.execArgv`) and
 * `NODE_OPTIONS` (which may carry the first, and refuses the second). A flag given with another
 * value is someone's choice, not missing.
 */
export function missingMemoryFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].filter(Boolean).map(flagName));
  return MEMORY_FLAGS.filter((flag) => !given.has(flagName(flag)));
}

/** The warning a production process without them logs, or null when it has them. */
export function memoryFlagsWarning(execArgv: readonly string[], nodeOptions?: string): string | null {
  const missing = missingMemoryFlags(execArgv, nodeOptions);
  if (!missing.length) return null;
  return `Node was started without ${missing.join(' ')}, which npm start and npm run worker pass: a stream or an import may take far more memory (docs/operations.md, "Memory"). Pass them on node's command line.`;
}

/** In production, logs the warning when this process lacks a flag (development and tests run the sources). */
export function warnWithoutMemoryFlags(env: string, logger: { warn(msg: string): void }) {
  if (env !== 'production') return;
  const warning = memoryFlagsWarning(process.execArgv, process.env.NODE_OPTIONS);
  if (warning) logger.warn(warning);
}
