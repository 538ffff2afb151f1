import { pipeline, Readable } from 'node:stream';
import { expect } from 'chai';
import {
  describeCsvError,
  type LocatedCsvError,
  NumberedCsvParser,
  type NumberedRecord,
  recordOf,
} from '../../server/imports/csv.ts';
import { randomOf } from '../support/seeded.ts';

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
    // the refused row itself broken over lines before its fault (placed a line late per quoted
    // CRLF until session 25)
    [
      'a stray quote in a row broken over lines before it',
      'email,name,note\r\na,"A\r\nB",bad "q\r\nd,y,z\r\n',
      'INVALID_OPENING_QUOTE',
      3,
      1,
    ],
    [
      'a stray quote after two quoted CRLFs in its row',
      'email,name,note\r\nok,1,2\r\na,"A\r\nB\r\nC",bad "q\r\n',
      'INVALID_OPENING_QUOTE',
      5,
      2,
    ],
    [
      'text after a closing quote, the value over two lines, after blank lines',
      'email,name\r\n\r\n\r\na,"A\r\nB"x\r\n',
      'CSV_INVALID_CLOSING_QUOTE',
      5,
      1,
    ],
    [
      'a stray quote after a quoted LF and a quoted CRLF in its row',
      'email,name,note\n"a\r\nb","c\nd",bad "q\n',
      'INVALID_OPENING_QUOTE',
      4,
      1,
    ],
    [
      'a stray quote after a byte-order mark and a quoted CRLF in its row',
      '\ufeffemail,name,note\r\na,"A\r\nB",bad "q\r\n',
      'INVALID_OPENING_QUOTE',
      3,
      1,
    ],
    ['a stray quote in the first line', 'email,na"me\r\na,b\r\n', 'INVALID_OPENING_QUOTE', 1, 0],
    ['a stray quote in a first line broken over two', '"em\r\nail",na"me\r\n', 'INVALID_OPENING_QUOTE', 2, 0],
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

  it('places a stray quote on its own line in generated files, however the values break lines', async () => {
    // Files of quoted values holding LF, CR, CRLF and doubled quotes, blank lines between rows,
    // LF or CRLF line ends; one row has a quote in the middle of an unquoted value. Its line is
    // counted here from the text before the quote (a CRLF, an LF or a lone CR ends a line once).
    const rnd = randomOf(2511);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    for (let file = 0; file < 300; file++) {
      const eol = pick(['\n', '\r\n']);
      const value = () =>
        pick([
          () => 'plain',
          () => `"${pick(['a\nb', 'a\r\nb', 'a\rb', 'x""y', 'a\r\n\r\nb', ''])}"`,
          () => '',
        ])();
      const rows = ['email,name,note'];
      const rowCount = 1 + Math.floor(rnd() * 6);
      const bad = Math.floor(rnd() * rowCount);
      const badColumn = Math.floor(rnd() * 3);
      let text = '';
      let faultAt = -1;
      for (let r = 0; r < rowCount; r++) {
        const fields = [value(), value(), value()];
        if (r === bad) fields[badColumn] = 'ab"c';
        rows.push(fields.join(','));
        if (rnd() < 0.2) rows.push('');
      }
      for (const [i, row] of rows.entries()) {
        if (faultAt === -1 && row.includes('ab"c')) faultAt = text.length + row.indexOf('ab"c') + 2;
        text += row + (i < rows.length - 1 || rnd() < 0.5 ? eol : '');
      }
      const before = text.slice(0, faultAt);
      const line = 1 + (before.match(/\r\n|\n|\r/g)?.length ?? 0);
      for (const size of [undefined, 1, 7]) {
        const err = await refusal(text, size);
        expect(err?.code, JSON.stringify(text)).to.equal('INVALID_OPENING_QUOTE');
        expect(err?.fileLine, `${JSON.stringify(text)} in pieces of ${size}`).to.equal(line);
      }
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
