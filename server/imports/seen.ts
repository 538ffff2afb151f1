// Which addresses a file has already had, and on which line, for a million rows in a few tens
// of MB: a Map of a million address strings costs ~100 MB of heap, this open-addressing table
// of 64-bit digests and line numbers ~24 MB. Two different addresses share a digest with odds
// of about one in 10^7 for a million-row file; then the later row is reported as a repeat of the
// earlier line, and can be imported again on its own. The digest is two 32-bit multiplicative
// hashes of the address's UTF-16 units, mixed at the end (the shape of cyrb53): 0.1 µs an address
// against 1.1 for MD5 through node:crypto, which also made a Buffer a row. It guards against
// mistakes in a file, not against its author: someone who built colliding addresses on purpose
// would only have their own second row refused.

export class SeenAddresses {
  private hi = new Uint32Array(1 << 16);
  private lo = new Uint32Array(1 << 16);
  private lines = new Int32Array(1 << 16); // 0: empty slot (lines start at 1)
  private count = 0;

  /** The line an address was first seen on, or undefined (and it is now recorded at `line`). */
  firstOr(key: string, line: number): number | undefined {
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (let i = 0; i < key.length; i++) {
      const ch = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
    h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
    h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    const hi = h2 >>> 0;
    const lo = h1 >>> 0;
    const mask = this.lines.length - 1;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      if (this.lines[i] === 0) {
        this.hi[i] = hi;
        this.lo[i] = lo;
        this.lines[i] = line;
        if (++this.count * 2 > this.lines.length) this.grow();
        return undefined;
      }
      if (this.hi[i] === hi && this.lo[i] === lo) return this.lines[i];
    }
  }

  private grow() {
    const { hi, lo, lines } = this;
    const size = lines.length * 2;
    this.hi = new Uint32Array(size);
    this.lo = new Uint32Array(size);
    this.lines = new Int32Array(size);
    const mask = size - 1;
    for (let j = 0; j < lines.length; j++) {
      if (lines[j] === 0) continue;
      let i = lo[j] & mask;
      while (this.lines[i] !== 0) i = (i + 1) & mask;
      this.hi[i] = hi[j];
      this.lo[i] = lo[j];
      this.lines[i] = lines[j];
    }
  }
}
