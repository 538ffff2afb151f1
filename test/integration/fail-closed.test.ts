import { expect } from 'chai';
import request from 'supertest';
import { createApp } from '../../server/app.ts';
import { apiKeyFor, testApp, testConfig, uniqueEmail } from '../support/app.ts';
import { proxiedDb } from '../support/proxy.ts';

// Needs a real server to cut; CI runs it (DATABASE_URL), PGlite has no connection to cut.
if (process.env.DATABASE_URL) {
  describe('fail closed and recover (PostgreSQL)', () => {
    it('answers 503 while the database is cut and recovers without a restart', async function () {
      this.timeout(60_000);
      const p = await proxiedDb();
      const app = createApp({ config: testConfig(), db: p.db });
      const t = await testApp();
      const { auth } = await apiKeyFor(t, ['check', 'contacts']);
      const email = uniqueEmail();
      await request(t.app).put(`/api/v1/contacts/${email}`).set('Authorization', auth).send({}).expect(201);
      const body = { channel: 'email', recipient: email, topic: 'newsletter' };
      try {
        const ok = await request(app)
          .post('/api/v1/send-permission')
          .set('Authorization', auth)
          .send(body)
          .expect(200);
        expect(ok.body.allowed).to.equal(true);

        await p.cut();
        const down = await request(app).post('/api/v1/send-permission').set('Authorization', auth).send(body);
        expect(down.status).to.equal(503);
        expect(down.body.error.code).to.equal('unavailable');
        await request(app).get('/readyz').expect(503);

        await p.restore();
        let recovered = 0;
        for (let i = 0; i < 20 && recovered !== 200; i++) {
          recovered = (
            await request(app).post('/api/v1/send-permission').set('Authorization', auth).send(body)
          ).status;
          if (recovered !== 200) await new Promise((r) => setTimeout(r, 250));
        }
        expect(recovered).to.equal(200);
        await request(app).get('/readyz').expect(200);
      } finally {
        await p.close();
      }
    });
  });
}
