// The import's CSV reader: csv-parse (RFC 4180 quoting, its errors for a stray quote or a row of
// the wrong length) handing out each record as its fields and the line of the file it ends on.
//
// csv-parse can give that line itself (its `info` option), but it does so by copying all its
// counters into two new objects a record, which cost more than parsing the record did (2.5-3.5
// µs of 4.5-6 a row, `.scratch` micro-benchmark of 300,000 rows, session 23), and it counts a CRLF
// inside a quoted field as two lines, so every later row of such a file was named a line too far
// on. Here each record is taken as the parser pushes it, with the parser's byte offset at that
// moment (`info.bytes`, the end of the record), and the lines are counted from the bytes the
// parser was given: an LF, a CRLF or a lone CR ends a line, once. When csv-parse refuses the file
// (a stray quote, a row of the wrong length, a quote never closed), its error is given the line
// by the same count (`fileLine`), and `describeCsvError` says in plain words what to mend there.
import { type Options, Parser } from 'csv-parse';

/**
 * A record's fields, and the line of the file its last field is on (1-based). The last item of a
 * file csv-parse refuses carries the refusal instead (`refused`), after every record before it.
 */
export interface NumberedRecord {
  fields: string[];
  line: number;
  refused?: LocatedCsvError;
}

/** csv-parse's refusal, placed in the file by this reader's count of its lines. */
export interface LocatedCsvError extends Error {
  /** csv-parse's code for the refusal (CSV_INVALID_CLOSING_QUOTE, …). */
  code?: string;
  /** The line the refusal is on. */
  fileLine: number;
  /** The line the last record read whole ends on (0: none), where an unclosed quote began after. */
  afterLine: number;
  /** The refused record's fields, for a record of the wrong length. */
  record?: string[];
  /** The field's index (0-based) where a quote was found. */
  column?: number | string | null;
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
  /** The last record's line, where it ends (`info.bytes`) and csv-parse's line count there. */
  private lastLine = 0;
  private lastEnd = 0;
  private lastParseLine = 1;

  constructor(options: Omit<Options, 'columns' | 'info' | 'raw' | 'objname' | 'on_record'>) {
    super(options);
  }

  // A refusal is handed on as the last item, not as the stream's error: an error would destroy
  // the stream and drop the records read before it from the same piece, and the import writes
  // every row before the bad line. csv-parse reads nothing more once it has refused.
  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
    this.fed.push(chunk);
    super._transform(chunk, encoding, (err) => {
      if (err && this.refuse(err)) {
        super.push(null);
        callback();
      } else callback(err);
    });
  }

  override _flush(callback: (error?: Error | null) => void) {
    super._flush((err) => callback(err && this.refuse(err) ? null : err));
  }

  /** Hands on csv-parse's refusal, placed, as the last item; false for any other error. */
  private refuse(err: Error): boolean {
    const e = err as Error & Partial<LocatedCsvError> & { lines?: unknown };
    if (typeof e.lines !== 'number') return false;
    const out: NumberedRecord = { fields: [], line: 0, refused: this.located(e) };
    super.push(out);
    return true;
  }

  override push(record: unknown): boolean {
    if (record === null) return super.push(null);
    // the record's last byte is at info.bytes - 1: a line end there (its own delimiter) is
    // counted with the next record
    this.countTo(this.info.bytes - 1);
    const out: NumberedRecord = { fields: record as string[], line: this.lineEnds + 1 };
    this.lastLine = out.line;
    this.lastEnd = this.info.bytes;
    this.lastParseLine = this.info.lines;
    return super.push(out);
  }

  /**
   * csv-parse's error, given the line of the file it is on. A record of the wrong length has been
   * read to its end (`info.bytes`), so its line is counted as a record's is. Any other refusal
   * comes part way through a record, where csv-parse gives no byte offset, only its own count of
   * lines: that is read back into this count from the last record's end (`inRefusedRecord`).
   */
  private located(e: Error & Partial<LocatedCsvError> & { lines?: unknown }): LocatedCsvError {
    if (e.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH') {
      this.countTo(this.info.bytes - 1);
      e.fileLine = this.lineEnds + 1;
    } else if (e.code === 'CSV_QUOTE_NOT_CLOSED') {
      // found at the end of the file: its last line
      const lastBuf = this.fed.at(-1);
      const lastByte = lastBuf?.length ? lastBuf[lastBuf.length - 1] : -1;
      this.countTo(Number.POSITIVE_INFINITY);
      e.fileLine = this.lineEnds + (lastByte === LF || lastByte === CR ? 0 : 1);
    } else {
      e.fileLine = this.inRefusedRecord(e.lines as number);
    }
    e.afterLine = this.lastLine;
    return e as LocatedCsvError;
  }

  /**
   * The line of the file csv-parse's line `parseLine` is, for a refusal inside the record after
   * the last one handed out. After that record's end, the line ends before the next record's
   * first character are blank lines, which csv-parse counts once each, as this count does.
   * Every line end after it, up to the refusal, is inside quotes (one outside would have ended
   * the record), where csv-parse counts a CRLF as two lines. So the bytes are walked until
   * csv-parse's count reaches `parseLine`, counting lines both ways.
   */
  private inRefusedRecord(parseLine: number): number {
    // `lastEnd` is past the last record's own line end, which csv-parse counts at the next byte;
    // before any record, line 1 by both counts from the file's first byte
    let line = this.lastLine ? this.lastLine + 1 : 1;
    let parsed = this.lastLine ? this.lastParseLine + 1 : 1;
    let inRecord = false;
    for (let at = this.lastEnd; parsed < parseLine; at++) {
      const b = this.byteAt(at);
      if (b === -1) break;
      if (b !== LF && b !== CR) {
        inRecord = true;
        continue;
      }
      line++;
      parsed++;
      if (b === CR && this.byteAt(at + 1) === LF) {
        at++;
        if (inRecord) parsed++;
      }
    }
    return line;
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

/**
 * What a refused file's problem is and where, in words a person can act on. The rows before it
 * were imported; the line named and every row after it were not.
 */
export function describeCsvError(err: LocatedCsvError, names: readonly string[]): string {
  const at = `The import stopped at line ${err.fileLine}`;
  const column = typeof err.column === 'number' ? names[err.column] : undefined;
  switch (err.code) {
    case 'CSV_INVALID_CLOSING_QUOTE':
      return `${at}: a quoted value there is followed by more text before the next comma. Write each quote inside a quoted value twice ("Bob ""Q"" Lee"), or leave the value unquoted.`;
    case 'INVALID_OPENING_QUOTE':
      return `${at}: a quote in the middle of a value${column ? ` (column "${column}")` : ''}. Put a value that holds quotes in quotes and write each of its quotes twice ("Bob ""Q"" Lee").`;
    case 'CSV_QUOTE_NOT_CLOSED':
      return `The import stopped at the end of the file: a quote opened after line ${err.afterLine} is never closed, so the rest of the file read as one value. Check that row's quotes (each quote inside a value is written twice).`;
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH':
      return `${at}: it has ${err.record?.length ?? 'a different number of'} values where the first line names ${names.length} columns. A value with a comma in it must be in quotes.`;
    default:
      return `${at}: the file could not be read as CSV there (${err.message}).`;
  }
}
