// withDeadline reads what it is given once: knex's query builder is a thenable that sends its
// query again for every `then`, and the readiness ping passed one (two pings a probe).
import { expect } from 'chai';
import { withDeadline } from '../../server/deadline.ts';

/** A thenable like knex's builder: each `then` starts the work again. */
function rerunning<T>(value: T | Error, delayMs = 0) {
  const thenable = {
    runs: 0,
    // biome-ignore lint/suspicious/noThenProperty: the point is a thenable that is not a promise
    then<R1, R2>(ok?: (v: T) => R1 | PromiseLike<R1>, fail?: (e: unknown) => R2 | PromiseLike<R2>) {
      thenable.runs++;
      const run = new Promise<T>((resolve, reject) =>
        setTimeout(() => (value instanceof Error ? reject(value) : resolve(value)), delayMs),
      );
      return run.then(ok, fail);
    },
    // as knex's: catch is a then
    catch<R>(fail: (e: unknown) => R | PromiseLike<R>) {
      return thenable.then(undefined, fail);
    },
  };
  return thenable;
}

describe('withDeadline', () => {
  it('starts a thenable’s work once and answers with its value', async () => {
    const work = rerunning(42);
    expect(await withDeadline(work, 1000, 'the work')).to.equal(42);
    expect(work.runs).to.equal(1);
  });

  it('passes the work’s failure on, having started it once', async () => {
    const work = rerunning(new Error('refused'));
    const err = await withDeadline(work, 1000, 'the work').catch((e: Error) => e);
    expect((err as Error).message).to.equal('refused');
    expect(work.runs).to.equal(1);
  });

  it('rejects with the deadline’s message when the work is late, and leaves a late failure handled', async () => {
    const work = rerunning(new Error('late'), 50);
    const err = await withDeadline(work, 5, 'database ping').catch((e: Error) => e);
    expect((err as Error).message).to.equal('database ping timed out after 5 ms');
    await new Promise((resolve) => setTimeout(resolve, 80)); // the late failure: no unhandled rejection
    expect(work.runs).to.equal(1);
  });
});
