import { expect } from 'chai';
import { uuidV7 } from '../../server/ids.ts';
import { millisOf, UUID_V7 } from '../support/uuid.ts';

describe('version 7 uuids made for the import', () => {
  it('carry the time given, the version and the variant, and differ within one millisecond', () => {
    const now = Date.UTC(2026, 10, 28, 7, 30, 0, 123);
    const ids = Array.from({ length: 100_000 }, () => uuidV7(now)); // past the random pool many times
    for (const id of ids.slice(0, 1000)) {
      expect(id).to.match(UUID_V7);
      expect(millisOf(id)).to.equal(now);
    }
    expect(new Set(ids).size).to.equal(ids.length);
    // every random hex digit takes every value it may (the variant's 8 to b), none stuck
    const seen = Array.from({ length: 36 }, () => new Set<string>());
    for (const id of ids.slice(0, 5000)) for (let i = 0; i < 36; i++) seen[i].add(id[i]);
    const random = [15, 16, 17, 20, 21, 22, ...Array.from({ length: 12 }, (_, i) => 24 + i)];
    for (const i of random) expect(seen[i].size, `digit ${i}`).to.equal(16);
    expect([...seen[19]].sort()).to.deep.equal(['8', '9', 'a', 'b']);
    // a later millisecond changes the time part and only it
    const later = uuidV7(now + 1);
    expect(millisOf(later)).to.equal(now + 1);
    expect(uuidV7(0)).to.match(/^00000000-0000-7/);
  });
});
