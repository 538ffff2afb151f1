// The import's CSV reader: csv-parse (RFC 4180 quoting, its errors for a stray quote or a row of
// the wrong length) handing out each record as its fields and the line of the file it ends on.
//
// csv-parse can give that line itself (its `info` option), but it does so by copying all its
// counters into two new objects a record, which cost more than parsing the record did (2.5-3.5
// µs of 4.5-6 a row, `.scratch` micro-benchmark of 300,000 rows, session 23), and it counts a CRLF
// inside a quoted field as two lines, so every later row of such a file was named a line too far
// on. Here each record is taken as the parser pushes it, with the parser's byte offset at that
// moment (`info.bytes`, the end of the record), and the lines are counted from the bytes the
// parser was given: an LF, a CRLF or a lone CR ends a line, once.
import { type Options, Parser } from 'csv-parse';

/** A record's fields, and the line of the file its last field is on (1-based). */
export interface NumberedRecord {
  fields: string[];
  line: number;
}

const LF = 0x0a;
const CR = 0x0d;

export class NumberedCsvParser extends Parser {
  /** The buffers given to the parser not yet counted through, the first starting at `start`. */
  private fed: Buffer[] = [];
  private start = 0;
  /** Bytes counted so far, and the line ends among them. */
  private counted = 0;
  private lineEnds = 0;

  constructor(options: Omit<Options, 'columns' | 'info' | 'raw' | 'objname' | 'on_record'>) {
    super(options);
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
    this.fed.push(chunk);
    super._transform(chunk, encoding, callback);
  }

  override push(record: unknown): boolean {
    if (record === null) return super.push(null);
    // the record's last byte is at info.bytes - 1: a line end there (its own delimiter) is
    // counted with the next record
    this.countTo(this.info.bytes - 1);
    const out: NumberedRecord = { fields: record as string[], line: this.lineEnds + 1 };
    return super.push(out);
  }

  /** Counts the line ends that begin before byte `end`. */
  private countTo(end: number) {
    while (this.counted < end && this.fed.length) {
      const buf = this.fed[0];
      const stop = Math.min(end - this.start, buf.length);
      for (let i = this.counted - this.start; i < stop; i++) {
        const b = buf[i];
        if (b === LF) this.lineEnds++;
        else if (b === CR && this.byteAt(this.start + i + 1) !== LF) this.lineEnds++;
      }
      this.counted = this.start + stop;
      if (stop === buf.length) {
        this.fed.shift();
        this.start += buf.length;
      }
    }
  }

  /** The byte at an offset of the input, or -1 past what the parser has been given. */
  private byteAt(offset: number): number {
    let base = this.start;
    for (const buf of this.fed) {
      if (offset < base + buf.length) return buf[offset - base];
      base += buf.length;
    }
    return -1;
  }
}

/**
 * A record as an object by column name (the header's names, trimmed and in lower case), as the
 * failed-rows file shows it. A name given twice is read from its last column.
 */
export function recordOf(names: readonly string[], fields: readonly string[]): Record<string, string> {
  const rec: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) {
    if (names[i] === '__proto__')
      Object.defineProperty(rec, names[i], {
        value: fields[i],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else rec[names[i]] = fields[i];
  }
  return rec;
}
