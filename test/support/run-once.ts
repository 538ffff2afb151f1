// A knex query builder is a thenable that sends its query again for every `then` on it: a
// builder both watched for failure (`.catch`) and awaited later runs twice, and the unwatched run
// can land after a later write (an import's final checkpoint lost the file's error that way).
// Loaded by every mocha run (.mocharc.json), this fails the test in which any builder, raw query
// or schema statement is run a second time, naming the statement.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const seen = new WeakSet<object>();
const twice: string[] = [];

for (const path of ['knex/lib/query/querybuilder.js', 'knex/lib/raw.js', 'knex/lib/schema/builder.js']) {
  const Target = require(path) as { prototype: { then: (...args: unknown[]) => unknown } };
  const run = Target.prototype.then;
  // biome-ignore lint/suspicious/noThenProperty: wrapping knex's own then, to count its runs
  Target.prototype.then = function (this: { toString(): string }, ...args: unknown[]) {
    if (seen.has(this)) {
      let sql = '';
      try {
        sql = this.toString().slice(0, 200);
      } catch {
        sql = '(a statement knex cannot print)';
      }
      twice.push(sql);
    }
    seen.add(this);
    return run.apply(this, args);
  };
}

export const mochaHooks = {
  afterEach() {
    if (!twice.length) return;
    const statements = twice.splice(0);
    throw new Error(
      `a knex query was run more than once from one builder (hold a promise, not a builder): ${statements.join(' | ')}`,
    );
  },
};
