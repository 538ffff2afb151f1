// Words every part shares, declared once. A rule's own types live beside the rule (decide.ts,
// telephone-rules.ts); only what several parts mean in the same way is here.

/** The channels a marketing system may ask about. */
export const CHANNELS = ['email', 'sms', 'voice'] as const;
export type Channel = (typeof CHANNELS)[number];

export function isChannel(value: unknown): value is Channel {
  return typeof value === 'string' && (CHANNELS as readonly string[]).includes(value);
}

/** The channels that need prior express written consent (texts and calls). */
export const PHONE_CHANNELS = ['sms', 'voice'] as const;
export type PhoneChannel = (typeof PHONE_CHANNELS)[number];

/** Where a customer's signed agreement stands; only `signed` lets texts and calls through. */
export const AGREEMENT_STATUSES = ['none', 'signed', 'terminated'] as const;
export type AgreementStatus = (typeof AGREEMENT_STATUSES)[number];
