import { expect } from 'chai';
import type { Channel } from '../../server/domain.ts';
import {
  decide,
  REASONS,
  type Reason,
  type RecipientState,
  type TopicFacts,
  withinCallingHours,
  zonesOf,
} from '../../server/permission/decide.ts';

const newsletter: TopicFacts = { slug: 'newsletter', kind: 'marketing', channels: ['email'] };
const offers: TopicFacts = { slug: 'offers', kind: 'marketing', channels: ['email', 'sms', 'voice'] };
const account: TopicFacts = { slug: 'account', kind: 'operational', channels: ['email', 'sms', 'voice'] };
const administrative: TopicFacts = {
  slug: 'administrative',
  kind: 'operational',
  channels: ['email', 'sms'],
};

// 18:00 UTC on a winter weekday: 13:00 in New York, 08:00 in Honolulu, 09:00 in Anchorage.
const AFTERNOON = new Date('2026-01-15T18:00:00Z');
const phoneOk: RecipientState = {
  known: true,
  agreement: 'signed',
  consent: 'granted',
  timeZone: 'America/New_York',
  country: 'US',
  optouts: [],
};

const cases: [string, Channel, TopicFacts, RecipientState, Reason, Date?][] = [
  // email marketing
  ['known address, nothing on record', 'email', newsletter, { known: true }, 'subscribed'],
  ['unknown address', 'email', newsletter, { known: false }, 'unknown_recipient'],
  [
    'suppressed and unknown → suppressed first',
    'email',
    newsletter,
    { known: false, suppressed: true },
    'suppressed',
  ],
  [
    'suppressed AND unsubscribed → suppressed',
    'email',
    newsletter,
    { known: true, suppressed: true, optouts: ['email:*', 'email:newsletter'] },
    'suppressed',
  ],
  [
    'unsubscribed from all AND the topic → unsubscribed_all',
    'email',
    newsletter,
    { known: true, optouts: ['email:*', 'email:newsletter'] },
    'unsubscribed_all',
  ],
  [
    'unsubscribed from the topic',
    'email',
    newsletter,
    { known: true, optouts: ['email:newsletter'] },
    'unsubscribed_topic',
  ],
  [
    'paused until later',
    'email',
    newsletter,
    { known: true, pausedUntil: new Date(AFTERNOON.getTime() + 3600_000) },
    'paused',
  ],
  [
    'a pause that has ended lets marketing through',
    'email',
    newsletter,
    { known: true, pausedUntil: new Date(AFTERNOON.getTime() - 1) },
    'subscribed',
  ],
  [
    'unsubscribed AND paused → unsubscribed_topic (the reason the mail really does not go)',
    'email',
    newsletter,
    { known: true, optouts: ['email:newsletter'], pausedUntil: new Date(AFTERNOON.getTime() + 3600_000) },
    'unsubscribed_topic',
  ],
  [
    'suppressed AND paused → suppressed',
    'email',
    newsletter,
    { known: true, suppressed: true, pausedUntil: new Date(AFTERNOON.getTime() + 3600_000) },
    'suppressed',
  ],
  [
    'opt-out of another topic does not count',
    'email',
    offers,
    { known: true, optouts: ['email:newsletter'] },
    'subscribed',
  ],
  [
    'opt-out on sms does not affect email',
    'email',
    offers,
    { known: true, optouts: ['sms:*', 'sms:offers'] },
    'subscribed',
  ],
  // email operational
  [
    'operational email after unsubscribe-all',
    'email',
    account,
    { known: true, optouts: ['email:*'] },
    'operational',
  ],
  ['operational email to an unknown address', 'email', account, { known: false }, 'operational'],
  [
    'operational email to a suppressed address',
    'email',
    account,
    { known: true, suppressed: true },
    'operational',
  ],
  // channel first
  [
    'topic not offered on the channel beats everything',
    'sms',
    newsletter,
    { known: false, suppressed: true },
    'channel_not_offered',
  ],
  ['operational topic not offered on voice', 'voice', administrative, phoneOk, 'channel_not_offered'],
  // sms / voice
  ['sms marketing with consent, signed, daytime', 'sms', offers, phoneOk, 'subscribed', AFTERNOON],
  ['voice marketing with consent, signed, daytime', 'voice', offers, phoneOk, 'subscribed', AFTERNOON],
  ['unknown number', 'sms', offers, { known: false }, 'unknown_recipient'],
  ['unknown number, operational', 'sms', account, { known: false }, 'unknown_recipient'],
  ['no account', 'sms', offers, { ...phoneOk, agreement: null }, 'not_signed_customer'],
  ['agreement none', 'sms', offers, { ...phoneOk, agreement: 'none' }, 'not_signed_customer'],
  [
    'agreement terminated, even with consent',
    'voice',
    offers,
    { ...phoneOk, agreement: 'terminated' },
    'not_signed_customer',
  ],
  [
    'terminated beats missing consent',
    'sms',
    offers,
    { ...phoneOk, agreement: 'terminated', consent: null },
    'not_signed_customer',
  ],
  ['no consent', 'sms', offers, { ...phoneOk, consent: null }, 'no_consent'],
  ['consent revoked', 'sms', offers, { ...phoneOk, consent: 'revoked' }, 'consent_revoked'],
  ['operational sms without consent is denied', 'sms', account, { ...phoneOk, consent: null }, 'no_consent'],
  [
    'operational sms with revoked consent is denied',
    'sms',
    account,
    { ...phoneOk, consent: 'revoked' },
    'consent_revoked',
  ],
  ['operational sms with consent', 'sms', account, phoneOk, 'operational', AFTERNOON],
  [
    'operational sms at night is not held by quiet hours',
    'sms',
    account,
    phoneOk,
    'operational',
    new Date('2026-01-15T04:00:00Z'),
  ],
  [
    'operational sms ignores marketing opt-outs',
    'sms',
    account,
    { ...phoneOk, optouts: ['sms:*'] },
    'operational',
    AFTERNOON,
  ],
  ['sms all-marketing off', 'sms', offers, { ...phoneOk, optouts: ['sms:*'] }, 'unsubscribed_all', AFTERNOON],
  ['sms topic off', 'sms', offers, { ...phoneOk, optouts: ['sms:offers'] }, 'unsubscribed_topic', AFTERNOON],
  [
    'voice not affected by sms opt-out',
    'voice',
    offers,
    { ...phoneOk, optouts: ['sms:*'] },
    'subscribed',
    AFTERNOON,
  ],
  [
    'opt-out beats quiet hours',
    'sms',
    offers,
    { ...phoneOk, optouts: ['sms:offers'] },
    'unsubscribed_topic',
    new Date('2026-01-15T04:00:00Z'),
  ],
  ['sms marketing at 23:00 local', 'sms', offers, phoneOk, 'quiet_hours', new Date('2026-01-16T04:00:00Z')],
  ['sms marketing at 07:59 local', 'sms', offers, phoneOk, 'quiet_hours', new Date('2026-01-15T12:59:00Z')],
  ['sms marketing at 08:00 local', 'sms', offers, phoneOk, 'subscribed', new Date('2026-01-15T13:00:00Z')],
  ['sms marketing at 20:59 local', 'sms', offers, phoneOk, 'subscribed', new Date('2026-01-16T01:59:00Z')],
  ['sms marketing at 21:00 local', 'sms', offers, phoneOk, 'quiet_hours', new Date('2026-01-16T02:00:00Z')],
  // frequency limits (Florida: 3 per 24 h per number and topic)
  [
    'a Florida region with 3 sends in the last 24 h',
    'sms',
    offers,
    {
      ...phoneOk,
      region: 'US-FL',
      recentSends: [1, 2, 3].map((h) => new Date(AFTERNOON.getTime() - h * 3600_000)),
    },
    'frequency_limit',
    AFTERNOON,
  ],
  [
    'a Florida region with 2 sends in the last 24 h',
    'sms',
    offers,
    {
      ...phoneOk,
      region: 'US-FL',
      recentSends: [1, 2].map((h) => new Date(AFTERNOON.getTime() - h * 3600_000)),
    },
    'subscribed',
    AFTERNOON,
  ],
  [
    'no limit in New York',
    'sms',
    offers,
    { ...phoneOk, recentSends: Array(9).fill(AFTERNOON) },
    'subscribed',
    AFTERNOON,
  ],
  // suppression is an email concept: it never lets sms through or blocks it
  [
    'suppression does not apply to sms',
    'sms',
    offers,
    { ...phoneOk, suppressed: true },
    'subscribed',
    AFTERNOON,
  ],
];

describe('decide()', () => {
  for (const [name, channel, topic, state, reason, now] of cases) {
    it(`${name} → ${reason}`, () => {
      const d = decide(channel, topic, state, now ?? AFTERNOON);
      expect(d.reason).to.equal(reason);
      expect(d.allowed).to.equal(reason === 'subscribed' || reason === 'operational');
    });
  }

  it('the table covers every reason code', () => {
    const covered = new Set(cases.map((c) => c[4]));
    expect([...REASONS].filter((r) => !covered.has(r))).to.deep.equal([]);
  });
});

describe('quiet hours', () => {
  it('follow daylight saving time: 08:00 New York is 12:00 UTC in summer, 13:00 UTC in winter', () => {
    expect(withinCallingHours(new Date('2026-07-15T12:00:00Z'), 'America/New_York', 'US')).to.equal(true);
    expect(withinCallingHours(new Date('2026-01-15T12:00:00Z'), 'America/New_York', 'US')).to.equal(false);
  });

  it('hold on the night clocks spring forward and fall back', () => {
    // 2026-03-08 02:00 EST → 03:00 EDT; 07:30 EDT = 11:30 UTC is still quiet, 08:00 EDT = 12:00 UTC is not
    expect(withinCallingHours(new Date('2026-03-08T11:30:00Z'), 'America/New_York', 'US')).to.equal(false);
    expect(withinCallingHours(new Date('2026-03-08T12:00:00Z'), 'America/New_York', 'US')).to.equal(true);
    // 2026-11-01 02:00 EDT → 01:00 EST; 20:30 EST = 01:30 UTC next day is inside, 21:00 EST = 02:00 UTC is not
    expect(withinCallingHours(new Date('2026-11-02T01:30:00Z'), 'America/New_York', 'US')).to.equal(true);
    expect(withinCallingHours(new Date('2026-11-02T02:00:00Z'), 'America/New_York', 'US')).to.equal(false);
  });

  it('use the contact time zone across the world', () => {
    const t = new Date('2026-01-15T09:00:00Z'); // 18:00 Tokyo, 09:00 London, 04:00 New York
    expect(withinCallingHours(t, 'Asia/Tokyo', 'JP')).to.equal(true);
    expect(withinCallingHours(t, 'Europe/London', 'GB')).to.equal(true);
    expect(withinCallingHours(t, 'America/New_York', 'US')).to.equal(false);
  });

  it('without a time zone: only hours inside the window in every US zone, Hawaii and Alaska included', () => {
    const zones = zonesOf('US');
    expect(zones).to.include.members(['Pacific/Honolulu', 'America/Anchorage', 'America/New_York']);
    // 12:00 ET winter = 07:00 Honolulu: too early there
    expect(withinCallingHours(new Date('2026-01-15T17:00:00Z'), null, 'US')).to.equal(false);
    // 13:00 ET winter = 08:00 Honolulu and Adak, 09:00 Anchorage: inside everywhere
    expect(withinCallingHours(new Date('2026-01-15T18:00:00Z'), null, 'US')).to.equal(true);
    // 20:59 ET: inside everywhere; 21:00 ET: quiet in New York
    expect(withinCallingHours(new Date('2026-01-16T01:59:00Z'), null, 'US')).to.equal(true);
    expect(withinCallingHours(new Date('2026-01-16T02:00:00Z'), null, 'US')).to.equal(false);
  });

  it('an invalid time zone is treated as unknown, never guessed', () => {
    expect(withinCallingHours(new Date('2026-01-15T14:00:00Z'), 'Mars/Olympus', 'US')).to.equal(false);
    expect(withinCallingHours(new Date('2026-01-15T18:00:00Z'), 'Mars/Olympus', 'US')).to.equal(true);
  });

  it('no time zone and no country: never inside', () => {
    expect(withinCallingHours(new Date('2026-01-15T18:00:00Z'), null, null)).to.equal(false);
  });
});

describe('telephone rules by jurisdiction', () => {
  const at = (iso: string) => new Date(iso);
  const sms = (state: Partial<RecipientState>, now: Date) =>
    decide('sms', offers, { ...phoneOk, ...state }, now);
  const fl = { region: 'US-FL', timeZone: 'America/New_York' };

  it('Florida and Oklahoma allow 19:59 and refuse 20:00, with retryAfter at 08:00 next morning', () => {
    // 2026-01-15 is a Thursday; New York is UTC-5 in January
    expect(sms(fl, at('2026-01-16T00:59:00Z')).reason).to.equal('subscribed');
    const late = sms(fl, at('2026-01-16T01:00:00Z'));
    expect(late).to.include({ reason: 'quiet_hours', retryAfter: '2026-01-16T13:00:00.000Z' });
    expect(sms({ region: 'US-OK', timeZone: 'America/Chicago' }, at('2026-01-16T01:59:00Z')).reason).to.equal(
      'subscribed',
    );
    expect(sms({ region: 'US-OK', timeZone: 'America/Chicago' }, at('2026-01-16T02:00:00Z')).reason).to.equal(
      'quiet_hours',
    );
  });

  it('Texas: Sunday from noon, Monday to Saturday from 09:00, to 21:00', () => {
    const tx = { region: 'US-TX', timeZone: 'America/Chicago' };
    // 2026-01-18 is a Sunday; Chicago is UTC-6 in January
    const sunday = sms(tx, at('2026-01-18T17:59:00Z'));
    expect(sunday).to.include({ reason: 'quiet_hours', retryAfter: '2026-01-18T18:00:00.000Z' });
    expect(sms(tx, at('2026-01-18T18:00:00Z')).reason).to.equal('subscribed');
    expect(sms(tx, at('2026-01-19T14:59:00Z')).reason).to.equal('quiet_hours'); // Monday 08:59
    expect(sms(tx, at('2026-01-19T15:00:00Z')).reason).to.equal('subscribed'); // Monday 09:00
    expect(sms(tx, at('2026-01-20T03:00:00Z')).reason).to.equal('quiet_hours'); // 21:00
  });

  it('applies the area code’s state too: a Florida number of a New York resident ends at 20:00', () => {
    const state = { region: 'US-NY', areaState: 'US-FL', timeZone: 'America/New_York' };
    expect(sms(state, at('2026-01-16T00:59:00Z')).reason).to.equal('subscribed');
    expect(sms(state, at('2026-01-16T01:00:00Z')).reason).to.equal('quiet_hours');
    expect(sms({ ...state, areaState: null }, at('2026-01-16T01:00:00Z')).reason).to.equal('subscribed');
  });

  it('without a time zone, only hours inside the window in every US zone count (Hawaii to Maine)', () => {
    const none = { timeZone: null, region: 'US-FL' };
    // 19:00 UTC: 14:00 New York, 09:00 Honolulu: inside everywhere
    expect(sms(none, at('2026-01-15T19:00:00Z')).reason).to.equal('subscribed');
    // 17:00 UTC: 07:00 Honolulu: too early there
    const early = sms(none, at('2026-01-15T17:00:00Z'));
    expect(early).to.include({ reason: 'quiet_hours', retryAfter: '2026-01-15T18:00:00.000Z' });
    // 01:00 UTC: 20:00 New York, so Florida's end has passed on the East coast
    expect(sms(none, at('2026-01-16T01:00:00Z')).reason).to.equal('quiet_hours');
  });

  it('reads Etc/GMT+N zones (POSIX sign: Etc/GMT+5 is UTC-5)', () => {
    expect(sms({ timeZone: 'Etc/GMT+5', region: 'US-FL' }, at('2026-01-16T00:59:00Z')).reason).to.equal(
      'subscribed',
    );
    expect(sms({ timeZone: 'Etc/GMT+5', region: 'US-FL' }, at('2026-01-16T01:00:00Z')).reason).to.equal(
      'quiet_hours',
    );
  });

  it('frequency_limit says when the oldest of the last three sends ages out', () => {
    const now = at('2026-01-15T18:00:00Z'); // 13:00 New York
    const sends = [at('2026-01-15T14:00:00Z'), at('2026-01-15T15:00:00Z'), at('2026-01-15T16:00:00Z')];
    const d = sms({ ...fl, recentSends: sends }, now);
    expect(d).to.include({ reason: 'frequency_limit', retryAfter: '2026-01-16T14:00:00.000Z' });
    // aged out at 23:00 New York: then the next allowed instant is 08:00 the day after
    const evening = [at('2026-01-15T04:00:00Z'), at('2026-01-15T15:00:00Z'), at('2026-01-15T16:00:00Z')];
    expect(sms({ ...fl, recentSends: evening }, now)).to.include({
      reason: 'frequency_limit',
      retryAfter: '2026-01-16T13:00:00.000Z',
    });
  });
});

describe('pause', () => {
  it('answers retryAfter at the pause end, and a pause never stops operational mail or texts', () => {
    const until = new Date(AFTERNOON.getTime() + 7 * 24 * 3600_000);
    expect(decide('email', newsletter, { known: true, pausedUntil: until }, AFTERNOON)).to.deep.equal({
      allowed: false,
      reason: 'paused',
      retryAfter: until.toISOString(),
    });
    const account = { slug: 'account', kind: 'operational' as const, channels: ['email'] };
    expect(decide('email', account, { known: true, pausedUntil: until }, AFTERNOON).reason).to.equal(
      'operational',
    );
  });
});
