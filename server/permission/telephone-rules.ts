// Telephone marketing rules by jurisdiction, as data: calling hours per weekday (half-open
// windows in the recipient's local time) and a limit of messages per 24 hours per number and
// topic. The strictest of every rule that applies wins (SPEC "Telephone rules by jurisdiction"):
// the federal rule, the state of the contact's `region`, and the state of the number's area code
// (a number moved elsewhere still carries its area code, so both apply).
import areaCodeFile from './nanp-area-codes.json' with { type: 'json' };

/** [start, end) in minutes after local midnight, per weekday (0 = Sunday); null: no calls that day. */
export type WeekWindows = readonly ([number, number] | null)[];

export interface TelephoneRule {
  jurisdiction: string;
  windows: WeekWindows;
  /** Marketing messages per 24 hours per number and topic; undefined: no limit. */
  limitPer24h?: number;
  source: string;
}

const h = (hour: number) => hour * 60;
const everyDay = (start: number, end: number): WeekWindows =>
  Array.from({ length: 7 }, () => [h(start), h(end)]);

export const RULES: Record<string, TelephoneRule> = {
  US: {
    jurisdiction: 'US',
    windows: everyDay(8, 21),
    source: '47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. local time',
  },
  'US-FL': {
    jurisdiction: 'US-FL',
    windows: everyDay(8, 20),
    limitPer24h: 3,
    source:
      'Fla. Stat. 501.059 and 501.616 (Florida Telephone Solicitation Act, as amended 2021 and 2023): 8 a.m. to 8 p.m., at most 3 per 24 hours on the same subject',
  },
  'US-OK': {
    jurisdiction: 'US-OK',
    windows: everyDay(8, 20),
    limitPer24h: 3,
    source:
      'Oklahoma Telephone Solicitation Act, 15 O.S. 775C.1 et seq. (2022): 8 a.m. to 8 p.m., at most 3 per 24 hours on the same subject',
  },
  'US-MD': {
    jurisdiction: 'US-MD',
    windows: everyDay(8, 20),
    limitPer24h: 3,
    source:
      'Maryland Stop the Spam Calls Act, Md. Com. Law 14-4501 et seq. (2024): 8 a.m. to 8 p.m., at most 3 per 24 hours on the same subject',
  },
  'US-TX': {
    jurisdiction: 'US-TX',
    // Sunday noon to 9 p.m.; Monday to Saturday 9 a.m. to 9 p.m.
    windows: [
      [h(12), h(21)],
      [h(9), h(21)],
      [h(9), h(21)],
      [h(9), h(21)],
      [h(9), h(21)],
      [h(9), h(21)],
      [h(9), h(21)],
    ],
    source:
      'Tex. Bus. & Com. Code ch. 301-305 as amended by SB 140 (2025, from 1 September 2025): Mon-Sat 9 a.m. to 9 p.m., Sunday noon to 9 p.m.',
  },
};

interface AreaCodeFile {
  version: string;
  source: string;
  states: Record<string, string[]>;
}

const areaCodes = areaCodeFile as AreaCodeFile;
const stateOfAreaCode = new Map<string, string>();
for (const [state, codes] of Object.entries(areaCodes.states))
  for (const c of codes) stateOfAreaCode.set(c, state);

/** The state of a NANP number's area code (E.164 +1NPA…), or null. */
export function areaCodeState(e164: string): string | null {
  if (!e164.startsWith('+1') || e164.length !== 12) return null;
  return stateOfAreaCode.get(e164.slice(2, 5)) ?? null;
}

/** Every rule that applies: federal (for US numbers), the region's state, the area code's state. */
export function applicableRules(
  country: string | null,
  region: string | null,
  areaState: string | null,
): TelephoneRule[] {
  const out: TelephoneRule[] = [];
  if (country === 'US' || region?.startsWith('US-') || areaState) out.push(RULES.US);
  for (const j of [region, areaState]) {
    const rule = j ? RULES[j] : undefined;
    if (rule && !out.includes(rule)) out.push(rule);
  }
  // Outside the US (no rule of ours applies) the federal window is the floor we keep.
  if (!out.length) out.push(RULES.US);
  return out;
}

/** The strictest frequency limit among the rules, or undefined. */
export function strictestLimit(rules: TelephoneRule[]): number | undefined {
  const limits = rules.map((r) => r.limitPer24h).filter((n): n is number => n !== undefined);
  return limits.length ? Math.min(...limits) : undefined;
}
