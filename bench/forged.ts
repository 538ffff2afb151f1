// npm run bench:forged — what a forged SendGrid webhook request costs the server, in CPU time.
// Forged requests are free to send; if checking one is expensive, a stranger can starve the
// service (with the pure-JS ECDSA of @sendgrid/eventwebhook it was 5-15 ms each). Measured as
// the server process's own CPU time (/proc/<pid>/stat) per request, next to /healthz as the
// floor of any HTTP request, plus the verification call alone in this process.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sendgridPublicKey, verifySendGridSignature } from '../server/mail/signature.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const N = Number(process.env.BENCH_N ?? 3000);
const PORT = 39_411;
const TICK_MS = 10; // Linux USER_HZ is 100 on every kernel this runs on

const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyB64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const body = readFileSync(path.join(ROOT, 'test/fixtures/sendgrid-events.json'));

function cpuMs(pid: number) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
}

async function fire(url: string, init: () => RequestInit, n: number, concurrency = 8) {
  let left = n;
  const statuses = new Map<number, number>();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const res = await fetch(url, init());
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

async function main() {
  // The verification alone, in this process.
  const key = sendgridPublicKey(keyB64);
  const ts = String(Math.floor(Date.now() / 1000));
  const forged = sign('sha256', Buffer.from(`${ts}other bytes`), privateKey).toString('base64');
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) verifySendGridSignature(key, body, forged, ts);
  const verifyUs = Number(process.hrtime.bigint() - t0) / 1000 / N;

  const dataDir = mkdtempSync(path.join(tmpdir(), 'pc-bench-forged-'));
  const child = spawn(process.execPath, ['server/index.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(PORT),
      DATA_DIR: dataDir,
      DATABASE_URL: '',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'development',
      SENDGRID_WEBHOOK_PUBLIC_KEY: keyB64,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${PORT}/healthz`)).ok) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    // tsx is the process npm start runs today; the server is its child's child on Node 20, so
    // read the process that listens: the newest node process under it.
    const pid = Number(
      readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ').pop() ||
        child.pid,
    );
    const url = `http://127.0.0.1:${PORT}`;
    await fire(`${url}/healthz`, () => ({}), 500);
    let c0 = cpuMs(pid);
    await fire(`${url}/healthz`, () => ({}), N);
    const floorMs = (cpuMs(pid) - c0) / N;
    const forgedInit = () => ({
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'X-Twilio-Email-Event-Webhook-Signature': forged,
        'X-Twilio-Email-Event-Webhook-Timestamp': String(Math.floor(Date.now() / 1000)),
      },
    });
    await fire(`${url}/webhooks/sendgrid`, forgedInit, 500);
    c0 = cpuMs(pid);
    const statuses = await fire(`${url}/webhooks/sendgrid`, forgedInit, N);
    const forgedMs = (cpuMs(pid) - c0) / N;
    if (statuses.get(403) !== N) throw new Error(`forged requests were not all refused: ${[...statuses]}`);
    console.log(`verification alone (node:crypto):     ${verifyUs.toFixed(1)} µs per call`);
    console.log(`server CPU per GET /healthz (floor):  ${floorMs.toFixed(3)} ms`);
    console.log(
      `server CPU per forged webhook (403):  ${forgedMs.toFixed(3)} ms (${N} requests, ${body.length} B body)`,
    );
  } finally {
    child.kill('SIGTERM');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
