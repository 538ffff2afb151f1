import { pipeline, Readable } from 'node:stream';
import { expect } from 'chai';
import { NumberedCsvParser, recordOf } from '../../server/imports/csv.ts';

/** Each record's first field and line, the file given to the parser in `size`-byte pieces. */
async function lines(text: string, size = Number.POSITIVE_INFINITY): Promise<string[]> {
  const bytes = Buffer.from(text);
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += Math.min(size, bytes.length))
    pieces.push(bytes.subarray(at, at + size));
  const parser = new NumberedCsvParser({ bom: true, skip_empty_lines: true, relax_quotes: false });
  pipeline(Readable.from(pieces), parser, () => {});
  const out: string[] = [];
  for await (const r of parser) out.push(`${r.fields[0]}@${r.line}`);
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
