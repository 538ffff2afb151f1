// What a message must look like before anything is decided or sent. Pure; used by the single
// and the batch form so both refuse the same things with the same words.
import { cleanEmail } from '../contacts/rules.ts';
import type { OutgoingMessage } from './service.ts';

export interface Detail {
  field: string;
  message: string;
  [k: string]: unknown;
}

const FIELDS = ['to', 'topic', 'subject', 'html', 'text', 'from'];
const MAX_BODY = 1_000_000;
// "Name <addr@host>" or "addr@host"; no line breaks (header injection).
const FROM = /^(?:[^<>\r\n]{0,200}<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;

export function readMessage(
  input: unknown,
  prefix = '',
): { ok: true; msg: OutgoingMessage } | { ok: false; details: Detail[] } {
  const details: Detail[] = [];
  const f = (name: string) => `${prefix}${name}`;
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    return {
      ok: false,
      details: [{ field: prefix.replace(/\.$/, '') || 'body', message: 'must be a JSON object' }],
    };
  }
  const m = input as Record<string, unknown>;
  const extra = Object.keys(m).filter((k) => !FIELDS.includes(k));
  if (extra.length)
    details.push({
      field: f(extra[0]),
      message: `unknown field(s) ${extra.join(', ')}; allowed: ${FIELDS.join(', ')}`,
    });
  const to = cleanEmail(m.to);
  if (!to.ok) details.push({ field: f('to'), message: `an email address (${to.reason})` });
  if (typeof m.topic !== 'string' || m.topic === '')
    details.push({ field: f('topic'), message: 'a topic slug (GET /api/v1/topics)' });
  if (
    typeof m.subject !== 'string' ||
    m.subject.trim() === '' ||
    m.subject.length > 998 ||
    /[\r\n]/.test(m.subject)
  )
    details.push({ field: f('subject'), message: 'one line of 1 to 998 characters' });
  for (const body of ['html', 'text'] as const) {
    const v = m[body];
    if (v !== undefined && v !== null && (typeof v !== 'string' || v.length > MAX_BODY))
      details.push({
        field: f(body),
        message: `a string of at most ${MAX_BODY.toLocaleString('en')} characters`,
      });
  }
  if (typeof m.html !== 'string' && typeof m.text !== 'string')
    details.push({ field: f('text'), message: 'give html, text or both' });
  if (m.from !== undefined && (typeof m.from !== 'string' || !FROM.test(m.from)))
    details.push({ field: f('from'), message: 'an address, or "Name <address>"' });
  if (details.length) return { ok: false, details };
  return {
    ok: true,
    msg: {
      to: m.to as string,
      topic: m.topic as string,
      subject: m.subject as string,
      html: (m.html as string | undefined) ?? null,
      text: (m.text as string | undefined) ?? null,
      ...(m.from !== undefined ? { from: m.from as string } : {}),
    },
  };
}
