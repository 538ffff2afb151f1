// SendGrid Event Webhook signatures: ECDSA P-256 with SHA-256 over the timestamp header followed
// by the raw body, the signature in base64 DER, the key as base64 DER SubjectPublicKeyInfo (what
// SendGrid's settings page shows). node:crypto verifies one in a few tens of microseconds; the
// pure-JS library SendGrid ships takes 5-15 ms, which turned forged requests into a denial of
// service. The upstream test vectors are in test/unit/sendgrid-signature.test.ts.
import { createPublicKey, type KeyObject, verify } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
export const TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';

/** Reads the key once; throws with a clear message when it is not an EC public key. */
export function sendgridPublicKey(base64Der: string): KeyObject {
  const key = createPublicKey({ key: Buffer.from(base64Der.trim(), 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ec') {
    throw new Error('SENDGRID_WEBHOOK_PUBLIC_KEY is not an ECDSA public key (base64 DER).');
  }
  return key;
}

/** True when `signature` (base64) signs `timestamp` + `body` under `key`. Never throws. */
export function verifySendGridSignature(
  key: KeyObject,
  body: Buffer,
  signature: string,
  timestamp: string,
): boolean {
  try {
    const sig = Buffer.from(signature, 'base64');
    if (sig.length < 8 || sig.length > 80) return false; // a DER P-256 signature is 70-72 bytes
    return verify('sha256', Buffer.concat([Buffer.from(timestamp), body]), key, sig);
  } catch {
    return false;
  }
}
