import { expect } from 'chai';
import { smsIntent } from '../../server/consent/rules.ts';

describe('inbound text keywords', () => {
  const table: [string, ReturnType<typeof smsIntent>][] = [
    ['STOP', 'stop'],
    ['stop', 'stop'],
    ['Stop please', 'stop'],
    ['STOP!', 'stop'],
    [' opt out ', 'stop'],
    ['OPT-OUT', 'stop'],
    ['OptOut', 'stop'],
    ['unsubscribe me', 'stop'],
    ['Please cancel', 'stop'],
    ['END', 'stop'],
    ['quit.', 'stop'],
    ['Revoke', 'stop'],
    ['please stop texting me now', 'stop'],
    ['Stop sending me these messages, I never asked for them and it is annoying', 'stop'],
    ['STOPALL', 'stop_all'],
    ['stopwatch', null],
    ['I bought a stopwatch and a new phone case yesterday from your shop', null],
    ['Where is my order?', null],
    ['START', 'start'],
    ['unstop', 'start'],
    ['start please', null],
    ['HELP', 'help'],
    ['info?', 'help'],
    ['', null],
  ];
  for (const [body, intent] of table) {
    it(`reads ${JSON.stringify(body)} as ${intent}`, () => {
      expect(smsIntent(body)).to.equal(intent);
    });
  }
});
