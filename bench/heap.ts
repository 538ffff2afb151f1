// npm run bench:heap: where a route's or the import's memory is allocated, garbage included.
// V8's sampling heap profiler (through the inspector, keeping objects the collector has already
// freed) runs around one load in this process: the app made by createApp on a port of its own
// and the load generator beside it, or the import job. Prints the functions that allocated the
// most and the bytes per request, recipient or row. Garbage is what the collector's share of a
// profile is made of: a tool for finding it, not a service level.
//   DATABASE_URL=postgres://…/pc_bench PAGE=check npm run bench:heap
// PAGE: check (POST /api/v1/send-permission, the default), u, preferences, stream (STREAM
// recipients, 300,000 by default, without links) or import (IMPORT_ROWS new rows, 50,000 by
// default, in a scratch database of its own). TOP (30) lines; CALLERS=<part of a site's name>
// adds who called the sites that match.
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { createApp, createLogger } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { createDb } from '../server/db.ts';
import { benchImport } from './import.ts';
import {
  benchContact,
  cannon,
  checkApiKey,
  checkRequest,
  pageUrls,
  serverEnv,
  stream,
} from './production.ts';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const url = process.env.DATABASE_URL;
if (!url) throw new Error('needs DATABASE_URL (the bench database)');
const page = process.env.PAGE ?? 'check';
if (!['check', 'u', 'preferences', 'stream', 'import'].includes(page))
  throw new Error('PAGE is check, u, preferences, stream or import');
const top = Number(process.env.TOP ?? 30);

const session = new Session();
session.connect();
async function sampled<T>(load: () => Promise<T>): Promise<{ result: T; profile: ProfileNode }> {
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 2048,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const result = await load();
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as {
    profile: { head: ProfileNode };
  };
  return { result, profile: profile.head };
}

const siteOf = (n: ProfileNode) => {
  const f = n.callFrame;
  const file = f.url
    .replace(/^.*node_modules\//, 'nm:')
    .split('/')
    .slice(-3)
    .join('/');
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
};
const perItem = (bytes: number, items: number) =>
  Math.round(bytes / items)
    .toLocaleString()
    .padStart(7);

function report(head: ProfileNode, items: number, unit: string) {
  const bySite = new Map<string, number>();
  // CALLERS=<part of a site's name>: who called the sites that match, four frames up
  const callers = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfileNode, stack: string[]) => {
    const site = siteOf(n);
    bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
    total += n.selfSize;
    if (process.env.CALLERS && n.selfSize && site.includes(process.env.CALLERS)) {
      const from = stack.slice(-4).reverse().join(' < ');
      callers.set(from, (callers.get(from) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, [...stack, site]);
  };
  walk(head, []);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${perItem(bytes, items)} B ${((100 * bytes) / total).toFixed(1).padStart(5)} %  ${site}`);
  console.log(`total ${Math.round(total / items).toLocaleString()} bytes a ${unit}`);
  for (const [from, bytes] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 10))
    console.log(`${perItem(bytes, items)} B from ${from}`);
}

if (page === 'import') {
  const rows = Number(process.env.IMPORT_ROWS ?? 50_000);
  const { result, profile } = await sampled(() => benchImport(url, [rows]));
  console.log(
    `import of ${rows.toLocaleString()} rows: ${Math.round(result[0].rowsPerSecond).toLocaleString()} rows/s (the floors measured before it are included below)`,
  );
  report(profile, rows, 'row');
  process.exit(0);
}

const config = loadConfig({ ...serverEnv(url), NODE_ENV: 'production' });
const db = await createDb({ databaseUrl: url });
const app = createApp({ config, db, logger: createLogger('warn') });
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const port = (server.address() as AddressInfo).port;
const origin = `http://127.0.0.1:${port}`;
try {
  if (page === 'stream') {
    const n = Number(process.env.STREAM ?? 300_000);
    const key = await checkApiKey(url, 'bench-heap');
    await stream(port, key, n, 1_000_000); // warm-up
    const { result, profile } = await sampled(() => stream(port, key, n, 1_000_000));
    console.log(
      `stream of ${n.toLocaleString()}: ${Math.round(result.perSecond).toLocaleString()} recipients/s (the load generator's own allocations are in this process too)`,
    );
    report(profile, n, 'recipient');
  } else {
    const contact = await benchContact(url);
    const urls = pageUrls(origin, contact.id);
    const load =
      page === 'check'
        ? checkRequest(origin, contact.email, await checkApiKey(url, 'bench-heap'))
        : { url: page === 'u' ? urls.unsubscribe : urls.preferences, body: null, headers: {} };
    await cannon(load.url, load.body, load.headers, 3); // warm-up
    const { result, profile } = await sampled(() => cannon(load.url, load.body, load.headers, 5));
    if (result.non2xx) throw new Error(`${result.non2xx} answers not 2xx`);
    console.log(
      `${page}: ${result.requests.total.toLocaleString()} requests in 5 s (autocannon's own allocations are in this process too)`,
    );
    report(profile, result.requests.total, 'request');
  }
} finally {
  server.close();
  await db.close();
}
process.exit(0);
