// What an inbound text asks for. The word lists and their sources are in keywords.ts. Twilio's
// `OptOutType` (sent when its Advanced Opt-Out handled the message, in any language it knows)
// wins over our reading of the body: Twilio has already blocked or unblocked the number.
import {
  HELP_WORDS,
  SHORT_MESSAGE_WORDS,
  SHORT_STOP_WORDS,
  START_WORDS,
  STOP_ALL_WORDS,
  STOP_PHRASES,
  STOP_WORDS,
} from './keywords.ts';

export type SmsIntent = 'stop' | 'stop_all' | 'start' | 'help' | null;

const stopWords = new Set<string>(STOP_WORDS);
const shortStopWords = new Set<string>(SHORT_STOP_WORDS);
const stopAllWords = new Set<string>(STOP_ALL_WORDS);
const startWords = new Set<string>(START_WORDS);
const helpWords = new Set<string>(HELP_WORDS);

/** Lower case, accents removed, anything but letters and digits a space; "opt-out" is "opt out". */
export function normaliseText(body: string): string {
  return body
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

const OPT_OUT_TYPES: Record<string, SmsIntent> = { stop: 'stop', start: 'start', help: 'help' };

export function smsIntent(body: unknown, optOutType?: unknown): SmsIntent {
  if (typeof optOutType === 'string' && optOutType.trim()) {
    const forced = OPT_OUT_TYPES[optOutType.trim().toLowerCase()];
    if (forced) return forced;
  }
  if (typeof body !== 'string') return null;
  const text = normaliseText(body);
  if (!text) return null;
  const words = text.split(' ');
  // "opt out" and "opt-out" are the keyword OPTOUT
  const joined = text.replace(/\bopt out\b/g, 'optout').split(' ');
  if (joined.some((w) => stopAllWords.has(w))) return 'stop_all';
  if (joined.some((w) => stopWords.has(w))) return 'stop';
  if (
    (words.length <= SHORT_MESSAGE_WORDS && words.some((w) => shortStopWords.has(w))) ||
    shortStopWords.has(words[0])
  ) {
    return 'stop';
  }
  if (STOP_PHRASES.some((p) => p.test(text))) return 'stop';
  if (words.length === 1 && startWords.has(words[0])) return 'start';
  if (words.length === 1 && helpWords.has(words[0])) return 'help';
  return null;
}
