// A local stand-in for SendGrid's v3 API, so the real @sendgrid/mail client runs in tests.
// It records every POST /v3/mail/send and answers from a queue of statuses (default 202).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeSendGrid {
  url: string;
  received: { headers: http.IncomingHttpHeaders; body: Record<string, unknown> }[];
  /** Statuses to answer with, in order; when empty, 202. */
  queue: number[];
  /** Milliseconds to wait before answering (a slow provider). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startFakeSendGrid(): Promise<FakeSendGrid> {
  const fake: FakeSendGrid = { url: '', received: [], queue: [], delayMs: 0, close: async () => {} };
  let n = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', async () => {
      if (fake.delayMs) await new Promise((r) => setTimeout(r, fake.delayMs));
      if (req.method !== 'POST' || req.url !== '/v3/mail/send') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"errors":[{"message":"not found"}]}');
        return;
      }
      const status = fake.queue.shift() ?? 202;
      if (status === 202) fake.received.push({ headers: req.headers, body: JSON.parse(raw) });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (status === 202) headers['x-message-id'] = `fakeid${++n}`;
      // 429 and 500 say "retry now" to keep tests fast; 503 says nothing, so the client's own backoff runs.
      if (status === 429 || status === 500) headers['retry-after'] = '0';
      res.writeHead(status, headers);
      res.end(status === 202 ? '' : JSON.stringify({ errors: [{ message: `fake says ${status}` }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((r) => server.close(() => r()));
  return fake;
}
