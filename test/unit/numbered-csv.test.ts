import { pipeline, Readable } from 'node:stream';
import { expect } from 'chai';
import {
  describeCsvError,
  type LocatedCsvError,
  NumberedCsvParser,
  type NumberedRecord,
  recordOf,
} from '../../server/imports/csv.ts';

/** Each record's first field and line, the file given to the parser in `size`-byte pieces. */
async function lines(text: string, size = Number.POSITIVE_INFINITY): Promise<string[]> {
  const bytes = Buffer.from(text);
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += Math.min(size, bytes.length))
    pieces.push(bytes.subarray(at, at + size));
  const parser = new NumberedCsvParser({ bom: true, skip_empty_lines: true, relax_quotes: false });
  pipeline(Readable.from(pieces), parser, () => {});
  const out: string[] = [];
  for await (const r of parser as AsyncIterable<NumberedRecord>) {
    if (r.refused) throw r.refused;
    out.push(`${r.fields[0]}@${r.line}`);
  }
  return out;
}

describe('the import’s CSV reader', () => {
  const cases: [string, string, string[]][] = [
    ['LF', 'email\na\nb\n', ['email@1', 'a@2', 'b@3']],
    ['CRLF', 'email\r\na\r\nb\r\n', ['email@1', 'a@2', 'b@3']],
    ['CR alone (old Mac spreadsheets)', 'email\ra\rb\r', ['email@1', 'a@2', 'b@3']],
    ['blank lines', 'email\r\na\r\n\r\n\r\nb\r\n', ['email@1', 'a@2', 'b@5']],
    ['no line end at the end', 'email\na\nb', ['email@1', 'a@2', 'b@3']],
    ['a byte-order mark', '\ufeffemail\na\n', ['email@1', 'a@2']],
    ['a quoted LF in a CRLF file (Excel)', 'email\r\n"a\nx"\r\nb\r\n', ['email@1', 'a\nx@3', 'b@4']],
    // csv-parse's own count says 4 and 5 here
    ['a quoted CRLF in a CRLF file', 'email\r\n"a\r\nx"\r\nb\r\n', ['email@1', 'a\r\nx@3', 'b@4']],
    ['a quoted field over three lines', 'email\n"a\n\nx"\nb\n', ['email@1', 'a\n\nx@4', 'b@5']],
  ];
  for (const [name, text, expected] of cases)
    it(`names the line each record ends on: ${name}`, async () => {
      expect(await lines(text)).to.deep.equal(expected);
      // however the file is cut into the parser's pieces, a CRLF cut in two included
      for (const size of [1, 2, 3, 5])
        expect(await lines(text, size), `pieces of ${size}`).to.deep.equal(expected);
    });

  it('passes on csv-parse’s refusal of a stray quote', async () => {
    let error: Error | undefined;
    try {
      await lines('email\na\nb "x\nc\n');
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.match(/Invalid Opening Quote.*line 3/);
  });

  /** The parser's refusal of `text` (given in `size`-byte pieces), or undefined when it reads it all. */
  async function refusal(text: string, size?: number): Promise<LocatedCsvError | undefined> {
    try {
      await lines(text, size);
    } catch (err) {
      return err as LocatedCsvError;
    }
    return undefined;
  }

  // each file has a quoted CRLF before its fault (csv-parse counts one line too many for each)
  const faults: [string, string, string, number, number][] = [
    [
      'a stray quote',
      'email,name\r\na,"A\r\nB"\r\nb,x\r\nc,bad "q\r\nd,y\r\n',
      'INVALID_OPENING_QUOTE',
      5,
      4,
    ],
    [
      'text after a closing quote',
      'email,name\r\na,"A\r\nB"\r\n\r\nb,"x"y\r\nc,z\r\n',
      'CSV_INVALID_CLOSING_QUOTE',
      5,
      3,
    ],
    [
      'a row of the wrong length',
      'email,name\r\na,"A\r\nB"\r\nb,x,extra\r\nc,z\r\n',
      'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH',
      4,
      3,
    ],
    [
      'a row of the wrong length broken over lines itself',
      'email,name\r\na,"A\r\nB"\r\nb,"x\r\ny",extra\r\nc,z\r\n',
      'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH',
      5,
      3,
    ],
    ['a quote never closed', 'email,name\r\na,"A\r\nB"\r\nb,"x\r\nc,z\r\n', 'CSV_QUOTE_NOT_CLOSED', 5, 3],
  ];
  for (const [name, text, code, line, after] of faults)
    it(`places csv-parse's refusal by its own count of lines: ${name}`, async () => {
      for (const size of [undefined, 1, 3]) {
        const err = await refusal(text, size);
        expect(err?.code, `pieces of ${size}`).to.equal(code);
        expect(err?.fileLine, `pieces of ${size}`).to.equal(line);
        expect(err?.afterLine, `pieces of ${size}`).to.equal(after);
      }
    });

  it('hands on every record before a refusal, then the refusal, from one piece or many', async () => {
    const text = 'email,name\na,1\nb,2\nc,bad "q\nd,4\n';
    for (const size of [undefined, 1, 4]) {
      const parser = new NumberedCsvParser({ bom: true, skip_empty_lines: true, relax_quotes: false });
      const bytes = Buffer.from(text);
      const step = size ?? bytes.length;
      const pieces: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += step) pieces.push(bytes.subarray(at, at + step));
      pipeline(Readable.from(pieces), parser, () => {});
      const seen: string[] = [];
      for await (const r of parser as AsyncIterable<NumberedRecord>)
        seen.push(r.refused ? `refused@${r.refused.fileLine}` : `${r.fields[0]}@${r.line}`);
      expect(seen, `pieces of ${size}`).to.deep.equal(['email@1', 'a@2', 'b@3', 'refused@4']);
    }
  });

  it('says what to mend and where, in words, naming the column', async () => {
    const names = ['email', 'name'];
    const say = async (text: string) => describeCsvError((await refusal(text)) as LocatedCsvError, names);
    expect(await say('email,name\na,"A\r\nB"\nc,bad "q\n')).to.equal(
      'The import stopped at line 4: a quote in the middle of a value (column "name"). Put a value that holds quotes in quotes and write each of its quotes twice ("Bob ""Q"" Lee").',
    );
    expect(await say('email,name\na,"x"y\n')).to.match(
      /^The import stopped at line 2: a quoted value there is followed by more text/,
    );
    expect(await say('email,name\na,x,y\n')).to.equal(
      'The import stopped at line 2: it has 3 values where the first line names 2 columns. A value with a comma in it must be in quotes.',
    );
    expect(await say('email,name\na,x\nb,"open\nc,d\n')).to.match(
      /^The import stopped at the end of the file: a quote opened after line 2 is never closed/,
    );
  });

  it('makes a record by column name, the last of a name given twice', () => {
    expect(recordOf(['email', 'name', 'name'], ['a@b.co', 'First', 'Second'])).to.deep.equal({
      email: 'a@b.co',
      name: 'Second',
    });
    const odd = recordOf(['email', '__proto__'], ['a@b.co', 'x']);
    expect(Object.getPrototypeOf(odd)).to.equal(Object.prototype);
    expect(Object.keys(odd)).to.deep.equal(['email', '__proto__']);
  });
});
