/**
 * Rejects when `p` has not settled within `ms` (the work itself goes on; its result is dropped).
 * `p` may be any thenable: it is read through one `then`, since knex's query builder sends its
 * query again for every `then` on it (the readiness ping ran twice).
 */
export function withDeadline<T>(p: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const work = Promise.resolve(p);
  work.catch(() => {}); // a late failure after the deadline must not become an unhandled rejection
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} timed out after ${Math.max(0, ms)} ms`)),
        Math.max(0, ms),
      );
    }),
  ]).finally(() => clearTimeout(timer));
}
