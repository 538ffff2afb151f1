import { generateKeyPairSync, sign } from 'node:crypto';
import { expect } from 'chai';
import { sendgridPublicKey, verifySendGridSignature } from '../../server/mail/signature.ts';

// Vectors from SendGrid's own test suite (sendgrid-nodejs, packages/eventwebhook/src/eventwebhook.spec.js):
// the bytes SendGrid signed, trailing CRLF included.
const PUBLIC_KEY =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==';
const SIGNATURE =
  'MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=';
const TIMESTAMP = '1600112502';
const PAYLOAD = `${JSON.stringify([
  {
    email: 'hello@world.com',
    event: 'dropped',
    reason: 'Bounced Address',
    sg_event_id: 'ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA',
    sg_message_id: 'LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0',
    'smtp-id': '<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>',
    timestamp: 1600112492,
  },
])}\r\n`;
const PUBLIC_KEY_MULTIPLE =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==';
const SIGNATURE_MULTIPLE =
  'MEYCIQC/I4o6vCgqRYrTljjoVWB/GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5';
const TIMESTAMP_MULTIPLE = '1619651159';
const PAYLOAD_MULTIPLE = `${JSON.stringify([
  {
    email: 'invalid@gmail.com',
    event: 'processed',
    send_at: 0,
    sg_event_id: 'cHJvY2Vzc2VkLTE5OTQyMTEyLXFOd0JMZ1BRUWpXNkRKdktRd1NBYnctMA',
    sg_message_id: 'qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0',
    'smtp-id': '<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>',
    timestamp: 1619651146,
  },
  {
    email: 'invalid@gmail.com',
    event: 'bounce',
    ip: '167.89.101.76',
    reason:
      '552 5.2.2 The email account that you tried to reach is over quota and inactive. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm c17si1130468pgv.34 - gsmtp',
    sg_event_id: 'Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w',
    sg_message_id: 'qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0',
    'smtp-id': '<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>',
    status: '5.2.2',
    timestamp: 1619651147,
    tls: 1,
    type: 'blocked',
  },
])
  .split('},{')
  .join('},\r\n{')}\r\n`;

const verify = (key: string, payload: string, signature: string, timestamp: string) =>
  verifySendGridSignature(sendgridPublicKey(key), Buffer.from(payload), signature, timestamp);

describe('SendGrid event webhook signatures (node:crypto)', () => {
  it("verifies SendGrid's single-event vector", () => {
    expect(verify(PUBLIC_KEY, PAYLOAD, SIGNATURE, TIMESTAMP)).to.equal(true);
  });
  it("verifies SendGrid's multi-event vector", () => {
    expect(verify(PUBLIC_KEY_MULTIPLE, PAYLOAD_MULTIPLE, SIGNATURE_MULTIPLE, TIMESTAMP_MULTIPLE)).to.equal(
      true,
    );
  });
  it('refuses another key, a changed payload, another signature and another timestamp', () => {
    const otherKey =
      'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==';
    expect(verify(otherKey, PAYLOAD, SIGNATURE, TIMESTAMP)).to.equal(false);
    expect(verify(PUBLIC_KEY, 'payload', SIGNATURE, TIMESTAMP)).to.equal(false);
    expect(verify(PUBLIC_KEY, PAYLOAD.trimEnd(), SIGNATURE, TIMESTAMP)).to.equal(false);
    const otherSig =
      'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=';
    expect(verify(PUBLIC_KEY, PAYLOAD, otherSig, TIMESTAMP)).to.equal(false);
    expect(verify(PUBLIC_KEY, PAYLOAD, SIGNATURE, 'timestamp')).to.equal(false);
    expect(verify(PUBLIC_KEY, PAYLOAD, SIGNATURE, '1600112503')).to.equal(false);
  });
  it('never throws on garbage signatures', () => {
    for (const sig of ['', 'not base64 !!', 'AAAA', 'A'.repeat(5000)]) {
      expect(verify(PUBLIC_KEY, PAYLOAD, sig, TIMESTAMP)).to.equal(false);
    }
  });
  it('verifies a signature made with a fresh key the way SendGrid makes it', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const sig = sign('sha256', Buffer.from(`123${PAYLOAD}`), privateKey).toString('base64');
    expect(verify(der, PAYLOAD, sig, '123')).to.equal(true);
  });
  it('refuses a key that is not an EC public key', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    expect(() => sendgridPublicKey(der)).to.throw(/ECDSA/);
    expect(() => sendgridPublicKey('bm90IGEga2V5')).to.throw();
  });
});
