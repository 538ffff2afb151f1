// Inbound text words, as data. Revocation must be honoured "by any reasonable means" (FCC 24-24,
// 47 CFR 64.1200(a)(10)), so when a message may be a request to stop, it is one. Sources:
// - FCC 24-24 (Report and Order, 2024), 47 CFR 64.1200(a)(10)(i): "stop, quit, end, revoke,
//   opt out, cancel, or unsubscribe" are presumed valid revocations, alone or in a reply.
// - CTIA Messaging Principles and Best Practices (2023), 5.1.1: STOP, END, CANCEL, UNSUBSCRIBE,
//   QUIT, and "other reasonable opt-out language"; HELP and INFO for help.
// - Twilio Advanced Opt-Out defaults: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
//   OPTOUT (opt-out); START, UNSTOP (opt-in); HELP, INFO (help); it sends `OptOutType` with the
//   keyword class it matched, also for its per-language keywords.
// - AWS End User Messaging SMS required keywords: ARRET, CANCEL, END, OPT-OUT, OPTOUT, QUIT,
//   REMOVE, REVOKE, STOP, STOPALL, TD, UNSUBSCRIBE.
// - Spanish and French: PARAR, ALTO, CANCELAR, BAJA, DETENER (es); ARRET/ARRÊT, DESABONNER,
//   ANNULER (fr), as carriers and Twilio list them for those languages.
// Words are matched whole, lower-cased, with accents removed ("ARRÊT" is "arret"), so
// "stopwatch" is never STOP.

/** Any of these anywhere in a message makes it a request to stop. */
export const STOP_WORDS = [
  'stop',
  'unsubscribe',
  'unsub',
  'optout',
  'revoke',
  'parar',
  'detener',
  'desuscribir',
  'desuscribirme',
  'arret',
  'arreter',
  'arretez',
  'desabonner',
  'desabonnement',
  'desinscrire',
  'desinscription',
] as const;

/**
 * Words that also mean other things ("the end of the week", "alto" is also "tall"): a request to
 * stop when they open the message or the message is short.
 */
export const SHORT_STOP_WORDS = [
  'cancel',
  'end',
  'quit',
  'remove',
  'td',
  'cancelar',
  'alto',
  'baja',
  'basta',
  'fin',
  'annuler',
] as const;

/** A message of at most this many words is "short". */
export const SHORT_MESSAGE_WORDS = 6;

/** Every number, texts and calls: STOPALL (Twilio, AWS). */
export const STOP_ALL_WORDS = ['stopall'] as const;

/** Plain requests to stop, of any length (matched on the normalised text, whole words). */
export const STOP_PHRASES: RegExp[] = [
  /\bopt (me |us )?out\b/,
  /\b(take|get) (me|us|my (phone |cell )?number|this number) (off|out)\b/,
  /\bremove (me|us|my (phone |cell )?number|my name|this number)\b/,
  /\bno more (texts?|txts?|messages?|msgs?|sms|calls?|marketing|spam)\b/,
  /\b(dont|don t|do not|never|please dont|please don t) (ever )?(text|txt|message|msg|sms|contact|call|send|email)\b/,
  /\bleave me alone\b/,
  /\bwrong number\b/,
  /\bnot interested\b/,
  /\bdelete my (phone |cell )?number\b/,
  // es
  /\bno (me )?(envien|manden|escriban|llamen|contacten)\b/,
  /\b(darme|dar|darse|denme) de baja\b/,
  /\bdejen de\b/,
  /\bno mas (mensajes|textos|sms|llamadas)\b/,
  // fr
  /\bne (plus|pas) (m )?(envoyer|ecrire|appeler|contacter)\b/,
  /\bplus de (messages|textos|sms|appels)\b/,
];

/** Opt back in: the whole message must be one of these (opting in is deliberate). */
export const START_WORDS = ['start', 'unstop'] as const;

/** Ask for help: the whole message must be one of these. */
export const HELP_WORDS = ['help', 'info', 'ayuda', 'aide'] as const;
