// The consent disclosures, per channel and language, naming the brand. Pure data: a change of
// wording or of the brand's name is published as a new version (consent/service.ts
// syncDisclosures), and a consent records the exact version it was given under (its text's hash
// and language), so older evidence keeps the words the person saw.
import type { PhoneChannel } from '../domain.ts';

export const DISCLOSURE_LOCALES = ['en', 'es'] as const;

const TEMPLATES: Record<(typeof DISCLOSURE_LOCALES)[number], Record<PhoneChannel, string>> = {
  en: {
    sms:
      'By checking this box, I agree to receive recurring marketing and informational text messages from {brand} at ' +
      'the mobile number provided, which may be sent using an automatic telephone dialing system. Consent is not ' +
      'a condition of any purchase. Message frequency varies. Msg & data rates may apply. Reply HELP for help ' +
      'and STOP to cancel at any time.',
    voice:
      'By checking this box, I agree to receive marketing and informational calls from {brand} at the phone number ' +
      'provided, which may use an automatic telephone dialing system or an artificial or prerecorded voice. ' +
      'Consent is not a condition of any purchase. You can revoke this consent at any time by telling us on a ' +
      'call, on your preferences page, or by contacting support.',
  },
  es: {
    sms:
      'Al marcar esta casilla, acepto recibir mensajes de texto recurrentes de marketing e informativos de {brand} ' +
      'en el número móvil indicado, que pueden enviarse mediante un sistema de marcación telefónica automática. ' +
      'El consentimiento no es condición para ninguna compra. La frecuencia de los mensajes varía. Pueden aplicarse ' +
      'tarifas de mensajes y datos. Responda HELP para obtener ayuda y STOP para cancelar en cualquier momento.',
    voice:
      'Al marcar esta casilla, acepto recibir llamadas de marketing e informativas de {brand} en el número de ' +
      'teléfono indicado, que pueden usar un sistema de marcación telefónica automática o una voz artificial o ' +
      'pregrabada. El consentimiento no es condición para ninguna compra. Puede revocar este consentimiento en ' +
      'cualquier momento diciéndonoslo en una llamada, en su página de preferencias o contactando con soporte.',
  },
};

/** The disclosure text a page shows for this brand, channel and language. */
export function disclosureText(
  brand: string,
  channel: PhoneChannel,
  locale: (typeof DISCLOSURE_LOCALES)[number],
) {
  return TEMPLATES[locale][channel].replaceAll('{brand}', brand);
}
