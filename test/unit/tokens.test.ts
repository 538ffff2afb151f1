import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { parseTokenKeys } from '../../server/config.ts';
import { signToken, verifyToken } from '../../server/tokens/tokens.ts';

const keys = parseTokenKeys(`new:${'n'.repeat(40)},old:${'o'.repeat(40)}`, []);
const oldOnly = parseTokenKeys(`old:${'o'.repeat(40)}`, []);
const contactId = randomUUID();

describe('link tokens', () => {
  it('round-trip purpose, contact and topic', () => {
    const t = signToken(keys, { purpose: 'unsubscribe', contactId, topic: 'newsletter' });
    expect(verifyToken(keys, t)).to.deep.equal({ purpose: 'unsubscribe', contactId, topic: 'newsletter' });
    const p = signToken(keys, { purpose: 'preferences', contactId, topic: null });
    expect(verifyToken(keys, p, 'preferences')).to.deep.equal({
      purpose: 'preferences',
      contactId,
      topic: null,
    });
  });

  it('hold no email address and are URL-safe', () => {
    const t = signToken(keys, { purpose: 'unsubscribe', contactId, topic: 'offers' });
    expect(t).to.match(/^[A-Za-z0-9_.-]+$/);
    // The payload is exactly version, purpose, the contact's 16 uuid bytes and the topic slug:
    // there is no room for an address. (Checking the bytes for '@' would flake: 0x40 is a valid
    // uuid byte.)
    const payload = Buffer.from(t.split('.')[0], 'base64url');
    expect(payload.length).to.equal(2 + 16 + 'offers'.length);
    expect(payload.subarray(2, 18).toString('hex')).to.equal(contactId.replace(/-/g, ''));
    expect(payload.subarray(18).toString('utf8')).to.equal('offers');
  });

  it('are bound to their purpose', () => {
    const p = signToken(keys, { purpose: 'preferences', contactId, topic: null });
    expect(verifyToken(keys, p, 'unsubscribe')).to.equal(null);
  });

  it('sign with the first key and verify with any configured key (rotation)', () => {
    const signedByOld = signToken(oldOnly, { purpose: 'unsubscribe', contactId, topic: 'events' });
    expect(signedByOld).to.include('.old.');
    expect(verifyToken(keys, signedByOld)?.topic).to.equal('events');
    expect(signToken(keys, { purpose: 'unsubscribe', contactId, topic: 'events' })).to.include('.new.');
  });

  it('fail for a key that is no longer configured', () => {
    const t = signToken(keys, { purpose: 'unsubscribe', contactId, topic: 'events' });
    expect(verifyToken(oldOnly, t)).to.equal(null);
  });

  it('fail when tampered, truncated or malformed', () => {
    const t = signToken(keys, { purpose: 'unsubscribe', contactId, topic: 'newsletter' });
    const [payload, kid, sig] = t.split('.');
    const otherPayload = signToken(keys, { purpose: 'unsubscribe', contactId, topic: 'offers' }).split(
      '.',
    )[0];
    const flipped = sig.slice(0, -2) + (sig.at(-2) === 'A' ? 'B' : 'A') + sig.at(-1);
    for (const bad of [
      `${otherPayload}.${kid}.${sig}`,
      `${payload}.${kid}.${flipped}`,
      t.slice(0, -1),
      t.slice(0, 20),
      `${payload}.old.${sig}`,
      `${payload}.${kid}`,
      '',
      'x'.repeat(1000),
      `${payload}..${sig}`,
    ]) {
      expect(verifyToken(keys, bad), bad).to.equal(null);
    }
  });
});
