import { expect } from 'chai';
import { SeenAddresses } from '../../server/imports/seen.ts';

describe("an import's record of the addresses it has seen", () => {
  it('answers each repeat with the line the address was first seen on, across growth', () => {
    const seen = new SeenAddresses();
    const n = 200_000; // past the first table's 65,536 slots several times over
    for (let i = 0; i < n; i++) expect(seen.firstOr(`person${i}@example.com`, i + 2)).to.equal(undefined);
    for (const i of [0, 1, 65_535, 65_536, 131_071, n - 1])
      expect(seen.firstOr(`person${i}@example.com`, n + 10)).to.equal(i + 2);
    // an address beyond ASCII, and one that differs from another by one unit
    expect(seen.firstOr('zoë@exämple.de', 7)).to.equal(undefined);
    expect(seen.firstOr('zoë@exämple.de', 9)).to.equal(7);
    expect(seen.firstOr('zoe@exämple.de', 11)).to.equal(undefined);
  });

  it('takes a million different addresses of the shapes real lists have for a million, none a repeat', () => {
    const seen = new SeenAddresses();
    const domains = ['gmail.com', 'yahoo.com', 'example.co.uk', 'a.io', 'mail.example-company.com'];
    let repeats = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const local = i % 3 === 0 ? `user${i}` : i % 3 === 1 ? `first.last+${i}` : `${i.toString(36)}x`;
      if (seen.firstOr(`${local}@${domains[i % domains.length]}`, i + 2) !== undefined) repeats++;
    }
    expect(repeats).to.equal(0);
  });
});
