// A TCP proxy in front of the real PostgreSQL that a test can cut (every connection closed, new
// ones refused), hang (connections stay open but nothing moves: a database that stopped
// answering) and restore. Needs a real server, so the tests using it run when DATABASE_URL is
// set (CI does); PGlite has no connection to cut.
import net from 'node:net';
import { createDb, type Db } from '../../server/db.ts';

export interface DbProxy {
  /** A database handle whose every connection goes through the proxy. */
  db: Db;
  cut(): Promise<void>;
  hang(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export interface ProxyOptions {
  statementTimeoutMs?: number;
  poolSize?: number;
  /** Called for each connection; the function it returns sees the bytes the client sends. */
  tap?: () => (chunk: Buffer) => void;
}

export async function proxiedDb(
  target = process.env.DATABASE_URL as string,
  opts: ProxyOptions = {},
): Promise<DbProxy> {
  const real = new URL(target);
  const pairs = new Set<[net.Socket, net.Socket]>();
  let server: net.Server | undefined;
  let port = 0;
  let hung = false;
  const start = () =>
    new Promise<void>((resolve) => {
      const srv = net.createServer((client) => {
        const upstream = net.connect(Number(real.port || 5432), real.hostname);
        const pair: [net.Socket, net.Socket] = [client, upstream];
        pairs.add(pair);
        const seen = opts.tap?.();
        client.on('data', (d) => {
          seen?.(d);
          upstream.write(d);
        });
        upstream.on('data', (d) => client.write(d));
        for (const s of pair) {
          s.on('close', () => {
            pairs.delete(pair);
            for (const o of pair) o.destroy();
          });
          s.on('error', () => s.destroy());
          if (hung) s.pause();
        }
      });
      server = srv;
      srv.listen(port, '127.0.0.1', () => {
        port = (srv.address() as net.AddressInfo).port;
        resolve();
      });
    });
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const pair of pairs) for (const s of pair) s.destroy();
      if (!server?.listening) return resolve();
      server.close(() => resolve());
    });
  await start();
  const url = new URL(real);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const db = await createDb({
    databaseUrl: url.toString(),
    statementTimeoutMs: opts.statementTimeoutMs,
    poolSize: opts.poolSize,
  });
  return {
    db,
    cut,
    hang() {
      hung = true;
      for (const pair of pairs) for (const s of pair) s.pause();
    },
    async restore() {
      if (hung) {
        hung = false;
        for (const pair of pairs) for (const s of pair) s.resume();
      }
      if (!server?.listening) await start();
    },
    async close() {
      await cut();
      await db.close().catch(() => {});
    },
  };
}
