// The ONE place where "may we send this topic on this channel to this person?" is answered.
// Pure: no I/O, no clock of its own. The check API, the mail gateway and the pages all ask it.
// Precedence follows SPEC "Decisions of the send-permission check", first match wins.
import ct from 'countries-and-timezones';
import type { Channel } from '../preferences/topics.ts';

export type { Channel };

export const REASONS = [
  'subscribed',
  'operational',
  'unknown_recipient',
  'unsubscribed_topic',
  'unsubscribed_all',
  'suppressed',
  'channel_not_offered',
  'not_signed_customer',
  'no_consent',
  'consent_revoked',
  'quiet_hours',
] as const;
export type Reason = (typeof REASONS)[number];

export interface Decision {
  allowed: boolean;
  reason: Reason;
}

export interface TopicFacts {
  slug: string;
  kind: 'marketing' | 'operational';
  channels: readonly string[];
}

/** What the database knows about the recipient, loaded in one query before deciding. */
export interface RecipientState {
  /** A live contact holds this address (email) or number (sms/voice). */
  known: boolean;
  /** Email: the address or its keyed hash is suppressed (bounce, complaint, erasure). */
  suppressed?: boolean;
  /** Unsubscribed preferences as "channel:topic", "channel:*" for all marketing. */
  optouts?: readonly string[];
  /** sms/voice: the agreement of the contact's account (null: no account). */
  agreement?: 'none' | 'signed' | 'terminated' | null;
  /** sms/voice: newest consent for this number and channel (null: none on record). */
  consent?: 'granted' | 'revoked' | null;
  /** sms/voice: the contact's IANA time zone, if known. */
  timeZone?: string | null;
  /** sms/voice: ISO country of the number, for quiet hours when the time zone is unknown. */
  country?: string | null;
}

const allow = (reason: 'subscribed' | 'operational'): Decision => ({ allowed: true, reason });
const deny = (reason: Reason): Decision => ({ allowed: false, reason });

/** Telephone marketing is allowed from 08:00 to 21:00 local time (47 CFR 64.1200(c)(1)). */
export const QUIET_START_HOUR = 21;
export const QUIET_END_HOUR = 8;

export function decide(channel: Channel, topic: TopicFacts, state: RecipientState, now: Date): Decision {
  if (!topic.channels.includes(channel)) return deny('channel_not_offered');
  const optouts = state.optouts ?? [];

  if (channel === 'email') {
    // Account and administrative notices go even to unknown or unsubscribed addresses.
    if (topic.kind === 'operational') return allow('operational');
    if (state.suppressed) return deny('suppressed');
    if (!state.known) return deny('unknown_recipient');
    if (optouts.includes('email:*')) return deny('unsubscribed_all');
    if (optouts.includes(`email:${topic.slug}`)) return deny('unsubscribed_topic');
    return allow('subscribed');
  }

  // sms and voice: even operational messages need consent and a signed agreement.
  if (!state.known) return deny('unknown_recipient');
  if (state.agreement !== 'signed') return deny('not_signed_customer');
  if (!state.consent) return deny('no_consent');
  if (state.consent === 'revoked') return deny('consent_revoked');
  if (topic.kind === 'operational') return allow('operational');
  if (optouts.includes(`${channel}:*`)) return deny('unsubscribed_all');
  if (optouts.includes(`${channel}:${topic.slug}`)) return deny('unsubscribed_topic');
  if (!withinCallingHours(now, state.timeZone ?? null, state.country ?? null)) return deny('quiet_hours');
  return allow('subscribed');
}

const hourFormatters = new Map<string, Intl.DateTimeFormat>();

/** Local hour (0-23) at `now` in `timeZone`; formatters are cached (they are costly to build). */
export function localHour(now: Date, timeZone: string): number {
  let f = hourFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23' });
    hourFormatters.set(timeZone, f);
  }
  return Number(f.format(now));
}

function isValidZone(timeZone: string): boolean {
  try {
    localHour(new Date(0), timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * Inside [08:00, 21:00) in the contact's time zone. Without a usable time zone we never guess:
 * the hour must be inside the window in EVERY time zone of the number's country (for US
 * numbers Hawaii and Alaska included); with no country either, nothing is inside.
 */
export function withinCallingHours(now: Date, timeZone: string | null, country: string | null): boolean {
  const inside = (zone: string) => {
    const h = localHour(now, zone);
    return h >= QUIET_END_HOUR && h < QUIET_START_HOUR;
  };
  if (timeZone && isValidZone(timeZone)) return inside(timeZone);
  const zones = country ? zonesOf(country) : [];
  if (zones.length === 0) return false;
  return zones.every(inside);
}

const zonesByCountry = new Map<string, string[]>();

export function zonesOf(country: string): string[] {
  let zones = zonesByCountry.get(country);
  if (!zones) {
    zones = (ct.getTimezonesForCountry(country) ?? []).map((z) => z.name).filter(isValidZone);
    zonesByCountry.set(country, zones);
  }
  return zones;
}
