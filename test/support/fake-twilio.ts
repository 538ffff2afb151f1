// A local stand-in for Twilio's Messages API, so the real twilio client runs in tests. It records
// every POST .../Messages.json and answers from a queue of error codes (default: accepted).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeTwilio {
  url: string;
  received: Record<string, string>[];
  /** Twilio error codes to answer with, in order (e.g. 21610); when empty, 201 accepted. */
  errors: number[];
  close(): Promise<void>;
}

export async function startFakeTwilio(): Promise<FakeTwilio> {
  const fake: FakeTwilio = { url: '', received: [], errors: [], close: async () => {} };
  let n = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      if (req.method !== 'POST' || !/\/2010-04-01\/Accounts\/AC\w+\/Messages\.json$/.test(req.url ?? '')) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end('{"code":20404,"message":"not found","status":404}');
        return;
      }
      const form = Object.fromEntries(new URLSearchParams(raw));
      const code = fake.errors.shift();
      if (code) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code, message: `fake twilio error ${code}`, status: 400 }));
        return;
      }
      fake.received.push(form);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          sid: `SM${String(++n).padStart(32, '0')}`,
          status: 'queued',
          to: form.To,
          from: form.From,
          body: form.Body,
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((r) => server.close(() => r()));
  return fake;
}
