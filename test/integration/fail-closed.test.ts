import net from 'node:net';
import { expect } from 'chai';
import request from 'supertest';
import { createApp } from '../../server/app.ts';
import { createDb } from '../../server/db.ts';
import { apiKeyFor, testApp, testConfig, uniqueEmail } from '../support/app.ts';

/** A TCP proxy in front of the real PostgreSQL that the test can cut and restore. */
function proxy(target: URL) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const start = () =>
    new Promise<number>((resolve) => {
      const srv = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 5432), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      server = srv;
      srv.listen(port, '127.0.0.1', () => {
        port = (srv.address() as net.AddressInfo).port;
        resolve(port);
      });
    });
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server?.close(() => resolve());
    });
  return { start, cut };
}

// Needs a real server to cut; CI runs it (DATABASE_URL), PGlite has no connection to cut.
if (process.env.DATABASE_URL) {
  describe('fail closed and recover (PostgreSQL)', () => {
    it('answers 503 while the database is cut and recovers without a restart', async function () {
      this.timeout(60_000);
      const real = new URL(process.env.DATABASE_URL as string);
      const p = proxy(real);
      const port = await p.start();
      const viaProxy = new URL(real);
      viaProxy.port = String(port);
      viaProxy.hostname = '127.0.0.1';
      const db = await createDb({ databaseUrl: viaProxy.toString() });
      const app = createApp({ config: testConfig(), db });
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

        await p.start();
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
        await p.cut();
        await db.close();
      }
    });
  });
}
