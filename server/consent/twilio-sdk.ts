// The twilio SDK holds about 34 MB once loaded: it is loaded on first use (an inbound text, a
// confirmation text to send), not at start, so a process that never meets a text never carries it.
import type twilioModule from 'twilio';

let sdk: Promise<typeof twilioModule> | undefined;

export function twilioSdk(): Promise<typeof twilioModule> {
  sdk ??= import('twilio').then((m) => m.default);
  return sdk;
}
