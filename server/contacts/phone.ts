// Phone numbers are stored and compared in E.164. Input may be in any common format; national
// formats are read in DEFAULT_PHONE_REGION.
import { type CountryCode, parsePhoneNumberWithError } from 'libphonenumber-js/max';

export type PhoneResult =
  | { ok: true; e164: string; country: string | undefined }
  | { ok: false; reason: string };

export function parsePhone(raw: unknown, region: string): PhoneResult {
  if (typeof raw !== 'string' || raw.trim() === '')
    return { ok: false, reason: 'a phone number is required' };
  if (raw.length > 40) return { ok: false, reason: 'too long to be a phone number' };
  try {
    const n = parsePhoneNumberWithError(raw.trim(), { defaultCountry: region as CountryCode });
    if (!n.isValid()) {
      return {
        ok: false,
        reason: `"${raw}" is not a valid phone number${n.country ? ` for ${n.country}` : ''}`,
      };
    }
    return { ok: true, e164: n.number, country: n.country };
  } catch (err) {
    const code = (err as Error).message;
    const why: Record<string, string> = {
      INVALID_COUNTRY: `cannot tell the country: use international format such as +14155552671`,
      NOT_A_NUMBER: 'not a phone number',
      TOO_SHORT: 'too short to be a phone number',
      TOO_LONG: 'too long to be a phone number',
      INVALID_LENGTH: 'the number has the wrong length',
    };
    return { ok: false, reason: why[code] ?? 'not a phone number' };
  }
}
