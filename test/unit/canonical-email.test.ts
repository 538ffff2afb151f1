import { expect } from 'chai';
import { canonicalEmail } from '../../server/contacts/rules.ts';
import { keyedHash, legacyEmailHashes } from '../../server/keyed-hash.ts';

describe('canonicalEmail: one identity per mailbox', () => {
  it('trims and lower-cases ASCII, keeping +tags', () => {
    expect(canonicalEmail('  Ann+News@Example.COM ')).to.equal('ann+news@example.com');
  });
  it('makes NFC and NFD spellings one', () => {
    const nfc = 'jos\u00e9@example.com';
    const nfd = 'jose\u0301@example.com';
    expect(canonicalEmail(nfd)).to.equal(canonicalEmail(nfc));
    expect(canonicalEmail(nfd.toUpperCase())).to.equal(canonicalEmail(nfc));
  });
  it('is stable: the form of a canonical form is itself (Greek final sigma, dotted I)', () => {
    for (const e of ['ΟΔΥΣ@example.com', 'οδυς@example.com', 'İSTANBUL@example.com', 'ǅemal@example.com']) {
      const c = canonicalEmail(e);
      expect(canonicalEmail(c), e).to.equal(c);
      expect(canonicalEmail(e), e).to.equal(canonicalEmail(` ${e} `));
    }
  });
  it('puts an internationalised domain in punycode', () => {
    expect(canonicalEmail('Ann@Bücher.example')).to.equal('ann@xn--bcher-kva.example');
    expect(canonicalEmail('ann@XN--BCHER-KVA.example')).to.equal('ann@xn--bcher-kva.example');
  });
  it('takes the keyed hash over the canonical form, and knows the older hashes of non-ASCII spellings', () => {
    const secret = Buffer.from('s'.repeat(40));
    const nfd = 'jose\u0301@example.com';
    expect(keyedHash(secret, 'email', nfd)).to.equal(keyedHash(secret, 'email', 'JOS\u00c9@example.com'));
    const legacy = legacyEmailHashes(secret, 'jos\u00e9@example.com');
    expect(legacy).to.have.length(1); // the NFD spelling's old hash (the NFC one is the same as today's)
    expect(legacyEmailHashes(secret, 'ann@example.com')).to.deep.equal([]);
  });
});
