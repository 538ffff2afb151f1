import type { Writable } from 'node:stream';

/** Resolves when a writable has drained, or has closed (the reader went away); leaves no listener behind. */
export function drained(out: Writable) {
  return new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}
