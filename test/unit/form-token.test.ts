import { expect } from 'chai';
import { parseTokenKeys } from '../../server/config.ts';
import { checkFormToken, formToken } from '../../server/http/form-token.ts';
import { pickLocale } from '../../server/i18n/index.ts';

const keys = parseTokenKeys(`k2:${'b'.repeat(40)},k1:${'a'.repeat(40)}`, []);
const now = new Date('2026-11-25T12:00:00Z');

describe('form tokens (CSRF for the recipient pages)', () => {
  it('pass for the same binding within a day, with any configured key', () => {
    const t = formToken(keys, 'u:abc', now);
    expect(checkFormToken(keys, 'u:abc', t, new Date(now.getTime() + 23 * 3600_000))).to.equal(true);
    const old = formToken(keys.slice(1), 'u:abc', now);
    expect(checkFormToken(keys, 'u:abc', old, now)).to.equal(true);
  });

  it('fail for another binding, after a day, from the future, when altered or missing', () => {
    const t = formToken(keys, 'u:abc', now);
    expect(checkFormToken(keys, 'u:abd', t, now)).to.equal(false);
    expect(checkFormToken(keys, 'u:abc', t, new Date(now.getTime() + 25 * 3600_000))).to.equal(false);
    expect(checkFormToken(keys, 'u:abc', t, new Date(now.getTime() - 3600_000))).to.equal(false);
    const [issued, kid, sig] = t.split('.');
    expect(checkFormToken(keys, 'u:abc', `${Number(issued) + 1}.${kid}.${sig}`, now)).to.equal(false);
    expect(checkFormToken(keys, 'u:abc', `${issued}.zz.${sig}`, now)).to.equal(false);
    for (const bad of [undefined, '', 'x', 42, `${issued}.${kid}.`]) {
      expect(checkFormToken(keys, 'u:abc', bad, now)).to.equal(false);
    }
  });
});

describe('page language', () => {
  it("prefers the contact's locale, then the browser's, then English", () => {
    expect(pickLocale('es-MX', 'en')).to.equal('es');
    expect(pickLocale('fr', 'es')).to.equal('es');
    expect(pickLocale(null, false)).to.equal('en');
    expect(pickLocale('de-AT', 'de')).to.equal('en');
  });
});
