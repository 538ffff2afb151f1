import { expect } from 'chai';
import { type EventRow, rowHash } from '../../server/ledger/ledger.ts';

// A ledger written years ago must still verify: these hashes were computed by the first
// implementation of rowHash (before its fast paths) and pin its bytes, whatever shape the data.
const secret = Buffer.from('ledger-vector-secret-ledger-vector-secret');
const base: Omit<EventRow, 'hash'> = {
  id: 41,
  occurred_at: new Date('2026-11-28T04:05:06.789Z'),
  chain: 'contact:0193f1e2-7d4a-7b6c-9d8e-0f1a2b3c4d5e',
  contact_id: '0193f1e2-7d4a-7b6c-9d8e-0f1a2b3c4d5e',
  account_id: null,
  type: 'contact.created',
  channel: null,
  topic: null,
  old_value: null,
  new_value: null,
  data: {},
  actor: 'import:5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f',
  ip: null,
  user_agent: null,
  prev_hash: null,
};

const vectors: [string, Partial<EventRow>, string][] = [
  [
    'flat, keys in order',
    { data: { fields: ['name', 'phone'] } },
    '091e1096994ad06cb3d3a03a41914e8a8492a646e2cb19abff0785b9a48f6f69',
  ],
  ['empty', { data: {} }, '93fd93cce6b99c2ee2e466333e8ae765da2ad66ca5d21fa3e8192a71d8a236c1'],
  [
    'keys out of order (as jsonb returns them)',
    { data: { fields: ['email'], emailHash: 'ab'.repeat(32), emailHashBefore: 'cd'.repeat(32) } },
    'a09d0482b6e552c7c8879060c298feb64f0f3c4ddad0ccd75deda30572c9b7fe',
  ],
  [
    'integer-like keys',
    { data: { 10: 'x', 2: 'y', a: true } },
    '6dd0989448aa93152ccc2104c39952bca9dbc4bd553077d285f1cbb3bf8eca3b',
  ],
  [
    'nested object',
    { data: { z: { b: 1, a: [1, { d: 2, c: 3 }] }, a: null } },
    '304c2b3b72f9ca0f29984889f6bc5cc8166e8445a9607e193ff87358da3bc414',
  ],
  [
    'a full preference change',
    {
      data: { reason: 'too_many', via: 'page' },
      type: 'preference.changed',
      channel: 'email',
      topic: 'newsletter',
      old_value: 'subscribed',
      new_value: 'unsubscribed',
      actor: 'recipient',
      ip: '203.0.113.9',
      user_agent: 'Mozilla/5.0 "quoted" \\ back',
      prev_hash: 'ef'.repeat(32),
    },
    'a48e27cd7997a64780fc5cf2aec51727fdeb8df35c52c4bf506003780b9565f1',
  ],
  [
    'no data at all',
    { data: undefined as unknown as Record<string, unknown> },
    '93fd93cce6b99c2ee2e466333e8ae765da2ad66ca5d21fa3e8192a71d8a236c1',
  ],
  [
    'text beyond ASCII',
    { data: { note: 'Zoë — 東京 😀' } },
    '9fb5f2c63c94a13595a4238b36860cdd2e1f650c347c8e8856e67a903fafe890',
  ],
];

describe('the ledger row hash', () => {
  for (const [name, change, hash] of vectors) {
    it(`is the one the first implementation made: ${name}`, () => {
      expect(rowHash(secret, { ...base, ...change })).to.equal(hash);
    });
  }

  it('reads each row its own time, one date after another and a date changed in place', () => {
    const at = new Date(base.occurred_at);
    const first = rowHash(secret, { ...base, occurred_at: at });
    const other = rowHash(secret, { ...base, occurred_at: new Date(at.getTime() + 1) });
    expect(other).to.not.equal(first);
    expect(rowHash(secret, { ...base, occurred_at: at })).to.equal(first);
    at.setTime(at.getTime() + 1); // the same Date object, another time
    expect(rowHash(secret, { ...base, occurred_at: at })).to.equal(other);
  });

  it('refuses an invalid time as before', () => {
    expect(() => rowHash(secret, { ...base, occurred_at: new Date(Number.NaN) })).to.throw(RangeError);
  });
});
