import { expect } from 'chai';
import {
  HELP_WORDS,
  SHORT_STOP_WORDS,
  START_WORDS,
  STOP_ALL_WORDS,
  STOP_WORDS,
} from '../../server/consent/keywords.ts';
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
    ['please stop sending me these messages, I never asked for them', 'stop'],
    ['PARAR', 'stop'],
    ['Alto por favor', 'stop'],
    ['CANCELAR', 'stop'],
    ['baja', 'stop'],
    ['Detener', 'stop'],
    ['ARRET', 'stop'],
    ['Arrêt', 'stop'],
    ['DÉSABONNER', 'stop'],
    ['desabonner svp', 'stop'],
    ['Please opt me out', 'stop'],
    ['take me off your list', 'stop'],
    ['Can you please take me off this list, I moved away last year', 'stop'],
    ['remove me', 'stop'],
    ['Please remove my number from your system, thank you very much', 'stop'],
    ['no more texts', 'stop'],
    ["Don't text me again", 'stop'],
    ['do not contact me anymore about any of your products or services', 'stop'],
    ['wrong number', 'stop'],
    ['Hola, quiero darme de baja de estos mensajes por favor', 'stop'],
    ['no me envien mas mensajes', 'stop'],
    ['Merci de ne plus m envoyer de messages', 'stop'],
    ['STOPALL', 'stop_all'],
    ['stop all', 'stop'],
    ['stopwatch', null],
    ['I bought a stopwatch and a new phone case yesterday from your shop', null],
    ['Where is my order?', null],
    ['My package arrived at the end of the week, thank you all', null],
    ['Is the store open tomorrow after the holiday or not?', null],
    ['START', 'start'],
    ['unstop', 'start'],
    ['start please', null],
    ['HELP', 'help'],
    ['info?', 'help'],
    ['Ayuda', 'help'],
    ['', null],
  ];
  for (const [body, intent] of table) {
    it(`reads ${JSON.stringify(body)} as ${intent}`, () => {
      expect(smsIntent(body)).to.equal(intent);
    });
  }

  it('reads every listed word, in upper and lower case, alone and with punctuation', () => {
    for (const w of [...STOP_WORDS, ...SHORT_STOP_WORDS]) {
      for (const body of [w, w.toUpperCase(), `${w}!`, ` ${w}. `])
        expect(smsIntent(body), body).to.equal('stop');
    }
    for (const w of STOP_ALL_WORDS) expect(smsIntent(w.toUpperCase())).to.equal('stop_all');
    for (const w of START_WORDS) expect(smsIntent(w.toUpperCase())).to.equal('start');
    for (const w of HELP_WORDS) expect(smsIntent(w.toUpperCase())).to.equal('help');
  });

  it("lets Twilio's OptOutType win over the body", () => {
    expect(smsIntent('hello there', 'STOP')).to.equal('stop');
    expect(smsIntent('STOP', 'START')).to.equal('start');
    expect(smsIntent('STOP', 'help')).to.equal('help');
    expect(smsIntent('STOP', '')).to.equal('stop');
    expect(smsIntent('hello', 'SOMETHING_NEW')).to.equal(null);
  });
});
