// Inbound text keywords. Revocation must be honoured "by any reasonable means" (FCC 24-24,
// 47 CFR 64.1200(a)(10)): the standard keywords in any case, with punctuation, or inside a
// short phrase ("Stop please", "unsubscribe me", "please opt out"). A keyword must be a whole
// word: "stopwatch" is not STOP. Opting back in is deliberate: START or UNSTOP alone.
export type SmsIntent = 'stop' | 'stop_all' | 'start' | 'help' | null;

const STOP_WORDS = new Set(['stop', 'unsubscribe', 'cancel', 'end', 'quit', 'revoke', 'optout']);
const SHORT_PHRASE_WORDS = 6;

export function smsIntent(body: unknown): SmsIntent {
  if (typeof body !== 'string') return null;
  const words = body
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9\s]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
  if (words.length === 0) return null;
  const joined = words
    .map((w, i) => (w === 'opt' && words[i + 1] === 'out' ? 'optout' : w))
    .filter((w, i, all) => !(w === 'out' && all[i - 1] === 'optout'));
  if (joined.includes('stopall')) return 'stop_all';
  const hasStop = joined.some((w) => STOP_WORDS.has(w));
  if (hasStop && (joined.length <= SHORT_PHRASE_WORDS || STOP_WORDS.has(joined[0]))) return 'stop';
  if (joined.length === 1 && (joined[0] === 'start' || joined[0] === 'unstop')) return 'start';
  if (joined.length === 1 && (joined[0] === 'help' || joined[0] === 'info')) return 'help';
  return null;
}
