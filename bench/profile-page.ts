// npm run bench:profile-page: where a recipient page's or a check's time goes. Starts the
// compiled server (as npm start runs it) under --cpu-prof against DATABASE_URL (the bench
// database), loads PAGE=u (GET /u/{token}, the default), PAGE=preferences or PAGE=check (POST
// /api/v1/send-permission, as npm run bench sends it) with autocannon at 50 connections, or
// streams PAGE=stream (1,000,000 recipients through /send-permission/stream, three times), and
// prints the functions with the most self time. A tool for finding work, not a service level.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  benchContact,
  cannon,
  checkApiKey,
  checkRequest,
  compiled,
  pageUrls,
  serverEnv,
  startServer,
  stream,
} from './production.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) throw new Error('needs DATABASE_URL (the bench database)');
const page = process.env.PAGE ?? 'u';
if (!['u', 'preferences', 'check', 'stream'].includes(page))
  throw new Error('PAGE is u, preferences, check or stream');
const dir = path.resolve('/tmp', `pc-prof-${process.pid}`);
const port = 3900 + (process.pid % 90);

const contact = await benchContact(URL_);
let body: string | null = null;
let headers: Record<string, string> = {};
let apiKey = '';
let url = `http://127.0.0.1:${port}/api/v1/send-permission`;
if (page === 'check' || page === 'stream') {
  apiKey = await checkApiKey(URL_, 'profile');
  ({ url, body, headers } = checkRequest(`http://127.0.0.1:${port}`, contact.email, apiKey));
} else {
  const pages = pageUrls(`http://127.0.0.1:${port}`, contact.id);
  url = page === 'u' ? pages.unsubscribe : pages.preferences;
}

const { child } = await startServer(compiled('server/index.ts'), serverEnv(URL_), port, [
  '--cpu-prof',
  `--cpu-prof-dir=${dir}`,
]);
if (page === 'stream') {
  for (let pass = 1; pass <= 3; pass++) {
    const r = await stream(port, apiKey, 1_000_000, 1_000_000);
    console.log(`stream pass ${pass}: ${Math.round(r.perSecond).toLocaleString()} recipients/s`);
  }
} else {
  await cannon(url, body, headers, 2);
  const result = await cannon(url, body, headers, Number(process.env.SECONDS ?? 8));
  console.log(
    `${url.replace(/\/[^/]+$/, '/…')}: ${Math.round(result.requests.average)} req/s, non-2xx ${result.non2xx}`,
  );
}
child.kill('SIGINT');
await new Promise((r) => child.on('exit', r));

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) as string;
const prof = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nodes: Node[] };
const total = prof.nodes.reduce((a, n) => a + n.hitCount, 0);
const byFn = new Map<string, number>();
const byModule = new Map<string, number>();
for (const n of prof.nodes) {
  const where = n.callFrame.url
    .replace(/^file:\/\/.*?node_modules\//, 'nm:')
    .replace(/^file:\/\/.*?\/(dist\/)?server\//, 'server/');
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + n.hitCount);
  const mod = where.startsWith('nm:')
    ? where
        .split('/')
        .slice(0, where.startsWith('nm:@') ? 2 : 1)
        .join('/')
    : where || n.callFrame.functionName;
  byModule.set(mod, (byModule.get(mod) ?? 0) + n.hitCount);
}
const top = (m: Map<string, number>, k: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([name, h]) => `${((100 * h) / total).toFixed(1).padStart(5)}%  ${name}`);
console.log(`\nself time by module:\n${top(byModule, 20).join('\n')}`);
console.log(`\nself time by function:\n${top(byFn, 30).join('\n')}`);
if (process.env.KEEP_PROFILE) console.log(`profile kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
