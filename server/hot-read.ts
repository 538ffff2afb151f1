// A named prepared statement that reads its row description once per connection.
//
// pg's own Query sends Bind, Describe, Execute and Sync at every execution of a prepared
// statement: PostgreSQL answers each Describe with the statement's RowDescription, and pg parses
// it and builds a parser per column again for every call (pg's `addFields`, 2.7 % of a check's
// profile in session 20). The hot reads (the single check, the stream's batches, the pages' link
// lookups) run the same few statements thousands of times a second on the same ten connections.
// PostgreSQL never lets a named statement's result columns change under it (a replan that would
// change them fails with "cached plan must not change result type"), so the description the
// first execution on a connection brought serves every later one on that connection.
//
// This is pg's documented extension point, a Submittable (the way pg-cursor and pg-query-stream
// drive a connection): pg's client calls `submit` when the connection is free and hands every
// backend message of that exchange to the handle* methods below.
import pg from 'pg';

/** What a statement's rows look like on one connection: column names and their parsers. */
interface Shape {
  names: string[];
  parsers: ((text: string) => unknown)[];
}

/** pg's Connection as a Submittable drives it (the messages and pg's statement bookkeeping). */
interface Wire {
  stream: { cork?: () => void; uncork?: () => void };
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
  parse(msg: { name: string; text: string; types: unknown[] }): void;
  bind(msg: { statement: string; values: unknown[]; valueMapper: (v: unknown) => unknown }): void;
  describe(msg: { type: 'P'; name: string }): void;
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

const shapes = new WeakMap<object, Map<string, Shape>>();
// pg's own value mapping (arrays to array literals, dates, null), as its Query binds them.
const prepareValue = (pg as unknown as { utils: { prepareValue(v: unknown): unknown } }).utils.prepareValue;

export class HotRead {
  /** Set by pg's client when the query is handed to it. */
  callback?: Done;
  private shape?: Shape;
  private readonly rows: Record<string, unknown>[] = [];
  private failure?: Error;
  /** The connection's shapes, where this statement's is kept once described. */
  private described?: Map<string, Shape>;

  // pg's client reads `name` and `text` to keep its own record of parsed statements.
  readonly name: string;
  readonly text: string;
  private readonly values: unknown[];

  constructor(name: string, text: string, values: unknown[]) {
    this.name = name;
    this.text = text;
    this.values = values;
  }

  submit(connection: unknown): Error | undefined {
    const wire = connection as Wire;
    const parsed = wire.parsedStatements[this.name] ?? wire.submittedNamedStatements[this.name];
    if (parsed !== undefined && parsed !== this.text)
      return new Error(`Prepared statements must be unique: '${this.name}' was used for another statement`);
    let known = shapes.get(wire);
    if (!known) {
      known = new Map();
      shapes.set(wire, known);
    }
    this.described = known;
    this.shape = parsed === undefined ? undefined : known.get(this.name);
    wire.stream.cork?.();
    try {
      if (parsed === undefined) {
        wire.parse({ name: this.name, text: this.text, types: [] });
        wire.submittedNamedStatements[this.name] = this.text;
      }
      try {
        wire.bind({ statement: this.name, values: this.values, valueMapper: prepareValue });
      } catch (err) {
        // A value pg cannot send (a circular object): nothing was written for the Bind, so end
        // the exchange and answer with the error once the server is ready again.
        this.failure = err as Error;
        wire.sync();
        return undefined;
      }
      if (!this.shape) wire.describe({ type: 'P', name: '' });
      wire.execute({ portal: '', rows: 0 });
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
    return undefined;
  }

  handleRowDescription(msg: { fields: FieldMessage[] }): void {
    const shape: Shape = {
      names: msg.fields.map((f) => f.name),
      parsers: msg.fields.map((f) => pg.types.getTypeParser(f.dataTypeID, f.format || 'text')),
    };
    this.shape = shape;
    this.described?.set(this.name, shape);
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    if (this.failure) return;
    const shape = this.shape;
    if (!shape) {
      this.failure = new Error(`a row of '${this.name}' arrived before its description`);
      return;
    }
    const row: Record<string, unknown> = {};
    const { names, parsers } = shape;
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
