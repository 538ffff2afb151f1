// A named prepared statement that reads its row description once per connection.
//
// pg's own Query sends Bind, Describe, Execute and Sync at every execution of a prepared
// statement: PostgreSQL answers each Describe with the statement's RowDescription, and pg parses
// it and builds a parser per column again for every call (pg's `addFields`, 2.7 % of a check's
// profile in session 20). The hot reads (the single check, the stream's batches, the pages' link
// lookups) run the same few statements thousands of times a second on the same ten connections.
// PostgreSQL never lets a named statement's result columns change under it (a replan that would
// change them fails with "cached plan must not change result type"), so the description the
// first execution on a connection brought serves every later one on that connection. (pg's pool
// closes a connection whose query failed, so after that refusal the next read is on a new
// connection and describes afresh.)
//
// This is pg's documented extension point, a Submittable (the way pg-cursor and pg-query-stream
// drive a connection): pg's client calls `submit` when the connection is free and hands every
// backend message of that exchange to the handle* methods below. It keeps its own record of what
// each connection has parsed and described and uses only the Connection's message methods, none
// of pg's private state (session 10 tried a subclass of pg's Query that read and wrote pg's
// private fields, and left it for that).
import pg from 'pg';

/** A statement as one connection knows it: its text and, once described, its rows' shape. */
interface Known {
  text: string;
  names?: string[];
  parsers?: ((text: string) => unknown)[];
}

/** pg's Connection: the extended-protocol messages a Submittable sends (all in pg's typings). */
interface Wire {
  stream: { cork?: () => void; uncork?: () => void };
  parse(msg: { name: string; text: string; types: unknown[] }): void;
  bind(msg: { statement: string; values: unknown[]; valueMapper: (v: unknown) => unknown }): void;
  describe(msg: { type: 'P'; name: string }): void;
  close(msg: { type: 'S'; name: string }): void;
  execute(msg: { portal: string; rows: number }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

interface FieldMessage {
  name: string;
  dataTypeID: number;
  format: 'text' | 'binary';
}

type Done = (err: Error | null, result?: { rows: Record<string, unknown>[] }) => void;

/** Per connection (a new connection after a cut starts empty), the statements it has described. */
const statements = new WeakMap<object, Map<string, Known>>();
// pg's own value mapping (arrays to array literals, dates, null), as its Query binds them.
const prepareValue = (pg as unknown as { utils?: { prepareValue?(v: unknown): unknown } }).utils
  ?.prepareValue;
if (typeof prepareValue !== 'function')
  throw new Error('this pg has no utils.prepareValue: see server/hot-read.ts');

export class HotRead {
  /** Set by pg's client when the query is handed to it. */
  callback?: Done;
  // pg's client reads `name` and `text` to keep its own record of parsed statements.
  readonly name: string;
  readonly text: string;
  private readonly values: unknown[];
  private known?: Known;
  private readonly rows: Record<string, unknown>[] = [];
  private failure?: Error;

  constructor(name: string, text: string, values: unknown[]) {
    this.name = name;
    this.text = text;
    this.values = values;
  }

  submit(connection: unknown): Error | undefined {
    const wire = connection as Wire;
    let known = statements.get(wire);
    if (!known) {
      known = new Map();
      statements.set(wire, known);
    }
    let statement = known.get(this.name);
    if (statement && statement.text !== this.text)
      return new Error(`Prepared statements must be unique: '${this.name}' was used for another statement`);
    if (!statement) {
      statement = { text: this.text };
      known.set(this.name, statement);
    }
    this.known = statement;
    wire.stream.cork?.();
    try {
      if (!statement.names) {
        // Not described on this connection yet, so perhaps not parsed either, or parsed by an
        // exchange that failed before its description came back: closing a statement that does
        // not exist is no error in PostgreSQL, so Close, then Parse, always succeeds.
        wire.close({ type: 'S', name: this.name });
        wire.parse({ name: this.name, text: this.text, types: [] });
      }
      try {
        wire.bind({
          statement: this.name,
          values: this.values,
          valueMapper: prepareValue as (v: unknown) => unknown,
        });
      } catch (err) {
        // A value pg cannot send (a circular object): nothing was written for the Bind, so end
        // the exchange and answer with the error once the server is ready again.
        this.failure = err as Error;
        wire.sync();
        return undefined;
      }
      if (!statement.names) wire.describe({ type: 'P', name: '' });
      wire.execute({ portal: '', rows: 0 });
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
    return undefined;
  }

  handleRowDescription(msg: { fields: FieldMessage[] }): void {
    const statement = this.known as Known;
    statement.parsers = msg.fields.map((f) => pg.types.getTypeParser(f.dataTypeID, f.format || 'text'));
    statement.names = msg.fields.map((f) => f.name);
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    if (this.failure) return;
    const { names, parsers } = this.known as Known;
    if (!names || !parsers || names.length !== msg.fields.length) {
      this.failure = new Error(`a row of '${this.name}' does not match its row description`);
      return;
    }
    const row: Record<string, unknown> = {};
    try {
      for (let i = 0; i < names.length; i++) {
        const v = msg.fields[i];
        row[names[i]] = v === null ? null : parsers[i](v);
      }
    } catch (err) {
      this.failure = err as Error;
      return;
    }
    this.rows.push(row);
  }

  handleCommandComplete(): void {}

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: unknown): void {
    (connection as Wire).sendCopyFail('a hot read does not copy');
  }

  handleCopyData(): void {}

  handleError(err: Error): void {
    this.finish(err);
  }

  handleReadyForQuery(): void {
    this.finish(this.failure ?? null);
  }

  private finish(err: Error | null): void {
    const callback = this.callback;
    this.callback = undefined; // answered once, whatever the connection does next
    if (err) callback?.(err);
    else callback?.(null, { rows: this.rows });
  }
}
