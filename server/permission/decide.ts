// The ONE place where "may we send this topic on this channel to this person?" is answered.
// Pure: no I/O, no clock of its own. The check API, the mail gateway and the pages all ask it.
// First match wins, in the order written below (server/permission/README.md).

import ct from 'countries-and-timezones';
import type { AgreementStatus, Channel } from '../domain.ts';
import { applicableRules, RULES, strictestLimit, type TelephoneRule } from './telephone-rules.ts';

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
  'frequency_limit',
  'paused',
] as const;
export type Reason = (typeof REASONS)[number];

export interface Decision {
  allowed: boolean;
  reason: Reason;
  /** Denials that end by themselves: the earliest ISO instant the same check could be allowed. */
  retryAfter?: string;
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
  agreement?: AgreementStatus | null;
  /** sms/voice: newest consent for this number and channel (null: none on record). */
  consent?: 'granted' | 'revoked' | null;
  /** sms/voice: the contact's IANA time zone, if known. */
  timeZone?: string | null;
  /** sms/voice: ISO country of the number, for quiet hours when the time zone is unknown. */
  country?: string | null;
  /** sms/voice: the contact's ISO 3166-2 region (US-FL), whose state rules apply. */
  region?: string | null;
  /** sms/voice: the state of the number's area code, whose rules apply too. */
  areaState?: string | null;
  /** Email: marketing is paused until this instant (the contact asked for a break). */
  pausedUntil?: Date | null;
  /** sms/voice: when marketing to this number and topic was sent (reserved) in the last 24 h. */
  recentSends?: readonly Date[];
}

const allow = (reason: 'subscribed' | 'operational'): Decision => ({ allowed: true, reason });
const deny = (reason: Reason): Decision => ({ allowed: false, reason });

// Calling hours and frequency limits are data: telephone-rules.ts (federal 08:00-21:00, 47 CFR
// 64.1200(c)(1), and the stricter states).

export function decide(channel: Channel, topic: TopicFacts, state: RecipientState, now: Date): Decision {
  if (!topic.channels.includes(channel)) return deny('channel_not_offered');
  const optouts = state.optouts ?? [];

  if (channel === 'email') {
    // Account and administrative notices go even to unknown or unsubscribed addresses.
    if (topic.kind === 'operational') return allow('operational');
    if (state.suppressed) return deny('suppressed');
    if (!state.known) return deny('unknown_recipient');
    if (optouts.length) {
      if (optouts.includes('email:*')) return deny('unsubscribed_all');
      if (optouts.includes(`email:${topic.slug}`)) return deny('unsubscribed_topic');
    }
    if (state.pausedUntil && state.pausedUntil.getTime() > now.getTime())
      return { allowed: false, reason: 'paused', retryAfter: state.pausedUntil.toISOString() };
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
  const rules = applicableRules(state.country ?? null, state.region ?? null, state.areaState ?? null);
  const zones = zonesFor(state.timeZone ?? null, state.country ?? null);
  if (!insideWindows(now, rules, zones)) {
    const next = nextInside(now, rules, zones);
    return { allowed: false, reason: 'quiet_hours', ...(next ? { retryAfter: next.toISOString() } : {}) };
  }
  const limit = strictestLimit(rules);
  const sends = state.recentSends ?? [];
  if (limit !== undefined && sends.length >= limit) {
    // Allowed again when enough of the last 24 hours' sends have aged out, inside the hours.
    const sorted = [...sends].sort((a, b) => a.getTime() - b.getTime());
    const freed = new Date(sorted[sends.length - limit].getTime() + DAY_MS);
    const next = insideWindows(freed, rules, zones) ? freed : nextInside(freed, rules, zones);
    return { allowed: false, reason: 'frequency_limit', ...(next ? { retryAfter: next.toISOString() } : {}) };
  }
  return allow('subscribed');
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The zones a time must be read in: the contact's own, else every zone of the number's country. */
function zonesFor(timeZone: string | null, country: string | null): string[] {
  if (timeZone && isValidZone(timeZone)) return [timeZone];
  return country ? zonesOf(country) : [];
}

const partsFormatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** Local calendar parts of `t` in `zone`. */
function localParts(t: Date, zone: string) {
  let f = partsFormatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      weekday: 'short',
      hour: 'numeric',
      minute: 'numeric',
      hourCycle: 'h23',
    });
    partsFormatters.set(zone, f);
  }
  const p: Record<string, string> = {};
  for (const x of f.formatToParts(t)) p[x.type] = x.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    weekday: WEEKDAYS.indexOf(p.weekday),
    minute: Number(p.hour) * 60 + Number(p.minute),
  };
}

/** Inside every rule's window for that weekday, in every zone (no zone at all: never). */
export function insideWindows(t: Date, rules: readonly TelephoneRule[], zones: readonly string[]): boolean {
  if (!zones.length) return false;
  return zones.every((zone) => {
    const { weekday, minute } = localParts(t, zone);
    return rules.every((r) => {
      const w = r.windows[weekday];
      return w !== null && minute >= w[0] && minute < w[1];
    });
  });
}

/** The UTC instant of a local wall-clock time in a zone (two passes settle DST offsets). */
function zonedInstant(year: number, month: number, day: number, minute: number, zone: string): Date {
  const wall = Date.UTC(year, month - 1, day, 0, minute);
  let t = wall;
  for (let i = 0; i < 2; i++) {
    const p = localParts(new Date(t), zone);
    const seen = Date.UTC(p.year, p.month - 1, p.day, 0, p.minute);
    t += wall - seen;
  }
  return new Date(t);
}

/**
 * The earliest instant after `from` inside every window in every zone: the windows open only at
 * a rule's start time, so those are the candidates, over the next eight days.
 */
export function nextInside(
  from: Date,
  rules: readonly TelephoneRule[],
  zones: readonly string[],
): Date | null {
  const candidates: number[] = [];
  for (const zone of zones) {
    for (let d = 0; d <= 8; d++) {
      const p = localParts(new Date(from.getTime() + d * DAY_MS), zone);
      for (const r of rules) {
        const w = r.windows[p.weekday];
        if (w) candidates.push(zonedInstant(p.year, p.month, p.day, w[0], zone).getTime());
      }
    }
  }
  const sorted = [...new Set(candidates)].filter((c) => c > from.getTime()).sort((a, b) => a - b);
  for (const c of sorted) if (insideWindows(new Date(c), rules, zones)) return new Date(c);
  return null;
}

function isValidZone(timeZone: string): boolean {
  try {
    localParts(new Date(0), timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * Inside the federal window [08:00, 21:00) in the contact's time zone. Without a usable time
 * zone we never guess: the hour must be inside the window in EVERY time zone of the number's
 * country (for US numbers Hawaii and Alaska included); with no country either, nothing is inside.
 */
export function withinCallingHours(now: Date, timeZone: string | null, country: string | null): boolean {
  return insideWindows(now, [RULES.US], zonesFor(timeZone, country));
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
