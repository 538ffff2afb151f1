import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { browserLocale } from '../../server/i18n/index.ts';

// browserLocale keeps Express's answer per Accept-Language value; it must be that answer, for
// every header, the first time and every time after.
describe('browserLocale', () => {
  const app = express();
  app.get('/', (req, res) => {
    res.json({ kept: browserLocale(req), express: req.acceptsLanguages('en', 'es') });
  });

  const headers = [
    undefined,
    '',
    'es',
    'es-MX,es;q=0.9,en;q=0.8',
    'en-US,en;q=0.9',
    'de-DE,de;q=0.9',
    'de,es;q=0.5',
    'fr;q=0.9,en;q=0.1',
    'en;q=0.5,es;q=0.6',
    '*',
    'es;q=0',
    `es,${'x'.repeat(300)}`, // too long to keep: answered all the same
  ];

  it('answers what req.acceptsLanguages answers, for each header, twice', async () => {
    for (let round = 0; round < 2; round++) {
      for (const header of headers) {
        const req = request(app).get('/');
        if (header !== undefined) req.set('Accept-Language', header);
        const res = await req.expect(200);
        expect(res.body.kept, `Accept-Language: ${header}`).to.equal(res.body.express);
      }
    }
  });
});
