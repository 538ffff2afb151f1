import { expect } from 'chai';
import { inputProblems, urlProblems } from '../../server/http/hygiene.ts';

describe('input hygiene (unit)', () => {
  it('finds nothing in clean values, nested or not', () => {
    expect(
      inputProblems({ name: 'Ann', tags: ['a', 'b'], deep: { note: 'two\nlines\tand a tab' } }),
    ).to.deep.equal([]);
  });

  it('refuses a line break in a one-line field, allows it in free text, refuses NUL in both', () => {
    expect(inputProblems({ name: 'Ann\nBcc' })).to.deep.equal([
      { field: 'name', message: 'contains the control character U+000A, which is not allowed here' },
    ]);
    expect(inputProblems({ messages: [{ text: 'Hi\r\n\tthere' }] })).to.deep.equal([]);
    expect(inputProblems({ messages: [{ text: 'Hi\u0000' }] })).to.deep.equal([
      {
        field: 'messages[0].text',
        message: 'contains the control character U+0000, which is not allowed here',
      },
    ]);
    expect(inputProblems({ list: ['ok', 'b\u007fad'] })).to.deep.equal([
      { field: 'list[1]', message: 'contains the control character U+007F, which is not allowed here' },
    ]);
  });

  it('checks paths decoded and undecoded, and the query', () => {
    expect(urlProblems({ path: '/api/v1/contacts/ann@example.com', query: {} })).to.deep.equal([]);
    expect(urlProblems({ path: '/api/v1/contacts/ann%40example.com', query: {} })).to.deep.equal([]);
    expect(urlProblems({ path: '/api/v1/contacts/a%00b', query: {} })).to.deep.equal([
      { field: 'path', message: 'contains a control character' },
    ]);
    expect(urlProblems({ path: '/api/v1/contacts/a\u0001b', query: {} })).to.deep.equal([
      { field: 'path', message: 'contains a control character' },
    ]);
    expect(urlProblems({ path: '/x/%E0%A4%A', query: {} })).to.deep.equal([
      { field: 'path', message: 'is not valid percent-encoded UTF-8' },
    ]);
    expect(urlProblems({ path: '/x', query: { q: 'a\nb' } })).to.deep.equal([
      { field: 'q', message: 'contains the control character U+000A, which is not allowed here' },
    ]);
  });
});
