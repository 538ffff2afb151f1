// npm run bench:ab: did a change make a route cheaper? Two compiled servers, the build of the
// working tree (dist/) and an earlier build kept in dist-before/, answer the same route in
// alternating rounds; each round reads the CPU the server, PostgreSQL and this process (the load
// generator) spent per request from /proc. Two copies of the same build read within 2-3 % of
// each other this way, against about 8 % for requests per second (docs/scaling.md), so a change
// worth 5 % shows. A tool for finding work, not a service level.
//
//   git stash && npm run build && rm -rf dist-before && cp -r dist dist-before && git stash pop
//   DATABASE_URL=postgres://…/pc_bench PAGE=check npm run bench:ab
//
// PAGE: u (GET /u/{token}, the default), preferences, check (POST /api/v1/send-permission),
// stream (STREAM recipients, 300,000 by default, through /send-permission/stream without links,
// of the bench's 1,000,000 contacts; CPU and rates per recipient); ROUNDS (6) rounds of SECONDS
// (4) each per server. AFTER_FLAGS adds Node flags to the second
// server only (a flag weighed against the same build: copy dist/ to dist-before/ unchanged).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CpuSplit } from './cpu.ts';
import {
  benchContact,
  cannon,
  checkApiKey,
  checkRequest,
  compiled,
  pageUrls,
  ROOT,
  serverEnv,
  startServer,
  stopServers,
  stream,
} from './production.ts';

const URL_ = process.env.DATABASE_URL;
if (!URL_) throw new Error('needs DATABASE_URL (the bench database)');
const page = process.env.PAGE ?? 'u';
if (!['u', 'preferences', 'check', 'stream'].includes(page))
  throw new Error('PAGE is u, preferences, check or stream');
const streamed = Number(process.env.STREAM ?? 300_000);
const rounds = Number(process.env.ROUNDS ?? 6);
const afterFlags = (process.env.AFTER_FLAGS ?? '').split(' ').filter(Boolean);
const seconds = Number(process.env.SECONDS ?? 4);
const before = path.join(ROOT, 'dist-before', 'server', 'index.js');
if (!existsSync(before))
  throw new Error(
    'no dist-before/: build the earlier code and copy dist/ there (see the top of bench/ab.ts)',
  );

const contact = await benchContact(URL_);

const apiKey = page === 'check' || page === 'stream' ? await checkApiKey(URL_, 'ab') : '';

const servers: {
  name: string;
  pid: number;
  port: number;
  url: string;
  body: string | null;
  headers: Record<string, string>;
  split: CpuSplit;
  perSecond: number[];
}[] = [];
for (const [i, [name, script]] of [
  ['before (dist-before/)', before],
  [`after (dist/${afterFlags.length ? ` with ${afterFlags.join(' ')}` : ''})`, compiled('server/index.ts')],
].entries()) {
  const port = 3960 + i;
  const { child } = await startServer(script, serverEnv(URL_), port, i === 1 ? afterFlags : []);
  const origin = `http://127.0.0.1:${port}`;
  const urls = pageUrls(origin, contact.id);
  const load =
    page === 'check'
      ? checkRequest(origin, contact.email, apiKey)
      : { url: page === 'u' ? urls.unsubscribe : urls.preferences, body: null, headers: {} };
  servers.push({ name, pid: child.pid as number, port, ...load, split: new CpuSplit(), perSecond: [] });
}
const streamOf = (s: (typeof servers)[number]) => stream(s.port, apiKey, streamed, 1_000_000);
for (const s of servers) await (page === 'stream' ? streamOf(s) : cannon(s.url, s.body, s.headers, 2)); // warm-up
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first: a round's position must not favour one server.
  for (const s of r % 2 ? [...servers].reverse() : servers) {
    if (page === 'stream') {
      const result = await s.split.around(
        s.pid,
        () => streamOf(s),
        (x) => x.lines,
      );
      if (result.lines !== streamed) throw new Error(`${s.name}: ${result.lines} lines for ${streamed}`);
      s.perSecond.push(Math.round(result.perSecond));
      continue;
    }
    const result = await s.split.around(s.pid, () => cannon(s.url, s.body, s.headers, seconds));
    if (result.non2xx) throw new Error(`${s.name}: ${result.non2xx} answers not 2xx`);
    s.perSecond.push(Math.round(result.requests.average));
  }
}
console.log(
  page === 'stream'
    ? `stream: CPU a recipient, µs (server + PostgreSQL + load generator), ${rounds} rounds of ${streamed.toLocaleString()} recipients each`
    : `${page}: CPU a request, µs (server + PostgreSQL + load generator), ${rounds} rounds of ${seconds} s each`,
);
for (const s of servers) {
  const p = s.split.perRequest();
  console.log(
    page === 'stream'
      ? `${s.name}: ${p.server.toFixed(2)} + ${p.postgres.toFixed(2)} + ${p.loadgen.toFixed(2)} = ${p.total.toFixed(2)}; recipients/s by round ${s.perSecond.join(', ')}`
      : `${s.name}: ${p.server.toFixed(0)} + ${p.postgres.toFixed(0)} + ${p.loadgen.toFixed(0)} = ${p.total.toFixed(0)}; req/s by round ${s.perSecond.join(', ')}`,
  );
}
stopServers();
