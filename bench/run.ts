// npm run bench: measures the service levels of SPEC as ratios to a baseline taken in the same
// run (absolute numbers drift on a shared 2-core machine). Needs DATABASE_URL (a real server).
//  1. loads 1,000,000 contacts (10% opted out of all email marketing) unless already there
//  2. starts the app (npm start's entry) and the baseline as separate processes
//  3. alternates autocannon rounds (50 connections) between baseline and the single check
//  4. streams 1,000,000 recipients through /send-permission/stream and reads the server's peak RSS,
//     once more in scattered order (reported, not the service level: the passes send addresses
//     in index order), then does the same on a freshly started server
//  5. imports 100,000 and 1,000,000 rows (bench/import.ts), and with PRIMARY_URL and REPLICA_URL
//     measures the replica (bench/replica.ts), its replay paused until then
//  6. prints a table and writes bench/results.md
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type autocannon from 'autocannon';
import pg from 'pg';
import { migrateLatest } from '../db/migrate.ts';
import { createDb } from '../server/db.ts';
import { keyedHash } from '../server/keyed-hash.ts';
import { CpuSplit, coresAllow } from './cpu.ts';
import { cpuPerRow, describeImport, type ImportMeasure } from './import.ts';
import {
  cannon,
  checkApiKey,
  checkRequest,
  compiled,
  HASH_SECRET,
  NODE_FLAGS,
  pageUrls,
  ROOT,
  serverEnv,
  startServer as start,
  stream,
  WORKER_NODE_FLAGS,
} from './production.ts';

const URL_ = process.env.DATABASE_URL;
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 1_000_000);
const STREAM = Number(process.env.BENCH_STREAM ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const hashSecret = Buffer.from(HASH_SECRET);

if (!URL_) {
  console.error(
    'npm run bench needs DATABASE_URL (a real PostgreSQL), e.g.\n  createdb pc_bench && DATABASE_URL=postgres://postgres@127.0.0.1/pc_bench npm run bench',
  );
  process.exit(2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function load() {
  const db = await createDb({ databaseUrl: URL_ });
  await migrateLatest(db.knex, { hashSecret });
  const c = new pg.Client({ connectionString: URL_ });
  await c.connect();
  const { rows } = await c.query(
    `select count(*)::int as n from contacts where email like 'b%@bench.example.org'`,
  );
  if (rows[0].n < CONTACTS) {
    const t0 = Date.now();
    process.stdout.write(`loading ${CONTACTS.toLocaleString()} contacts… `);
    await c.query('begin');
    await c.query(
      `delete from contacts where email like 'b%@bench.example.org' and not exists (select 1 from events e where e.contact_id = contacts.id)`,
    );
    // Every tenth contact has left all email marketing; the snapshot column is written with the
    // contacts (as the import does), so the preferences' trigger then finds nothing to change.
    // email_hash is computed here (the keyed hash needs HASH_SECRET, which the database lacks).
    const BATCH = 50_000;
    for (let from = 0; from < CONTACTS; from += BATCH) {
      const emails: string[] = [];
      const hashes: string[] = [];
      const optouts: string[] = [];
      for (let g = from; g < Math.min(from + BATCH, CONTACTS); g++) {
        const email = `b${g}@bench.example.org`;
        emails.push(email);
        hashes.push(keyedHash(hashSecret, 'email', email));
        optouts.push(g % 10 === 0 ? '{email:*}' : '{}');
      }
      await c.query(
        `insert into contacts (email, email_hash, optouts)
         select e, h, o::text[] from unnest($1::text[], $2::text[], $3::text[]) as v(e, h, o)`,
        [emails, hashes, optouts],
      );
    }
    await c.query(
      `insert into preferences (contact_id, channel, topic, status)
       select id, 'email', null, 'unsubscribed' from contacts where email like 'b%@bench.example.org' and optouts = '{email:*}'`,
    );
    await c.query('commit');
    // What autovacuum does to a settled table soon after a load: statistics, and the visibility
    // map that lets a check read a contact from the address index alone (an index-only scan).
    await c.query('vacuum analyze contacts');
    await c.query('analyze preferences');
    console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const contact = (await c.query(`select id, email from contacts where email = 'b1@bench.example.org'`))
    .rows[0];
  await c.end();
  await db.close();
  return { contact, apiKey: await checkApiKey(URL_ as string, 'bench') };
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

/** A memory figure of a process in bytes, from /proc: VmRSS now, VmHWM its peak. */
function memory(pid: number, field: 'VmRSS' | 'VmHWM') {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
}
const rssNow = (pid: number) => memory(pid, 'VmRSS');
const peakRss = (pid: number) => memory(pid, 'VmHWM');

// A replica on this same machine would replay every write of the run (the load, the imports'
// millions of rows) on the two cores being measured. Its replay is paused while the primary is
// measured and resumed for the replica's own part (it keeps receiving the WAL meanwhile).
const REPLICA_URL = process.env.PRIMARY_URL ? process.env.REPLICA_URL : undefined;
async function onReplica<T>(sql: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: REPLICA_URL });
  await c.connect();
  try {
    return (await c.query(sql, values)).rows;
  } finally {
    await c.end();
  }
}
/**
 * Resumes the replica's replay; resolves once it has applied everything the primary wrote, in s.
 * Gives up after ten minutes: a standby that lost the WAL it needed never catches up.
 */
async function replicaCatchUp(): Promise<number> {
  const p = new pg.Client({ connectionString: process.env.PRIMARY_URL });
  await p.connect();
  const [{ lsn }] = (await p.query('select pg_current_wal_lsn()::text as lsn')).rows;
  await p.end();
  const t0 = Date.now();
  await onReplica('select pg_wal_replay_resume()');
  for (;;) {
    const [{ done }] = await onReplica<{ done: boolean }>(
      'select pg_last_wal_replay_lsn() >= $1::pg_lsn as done',
      [lsn],
    );
    if (done) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > 600_000)
      throw new Error(`the replica has not replayed up to ${lsn} in ten minutes: see its log`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  if (REPLICA_URL) await onReplica('select pg_wal_replay_pause()');
  const { contact, apiKey } = await load();
  const app = await start(compiled('server/index.ts'), serverEnv(URL_ as string), 39_401);
  const base = await start(
    compiled('bench/baseline.ts'),
    { DATABASE_URL: URL_, BENCH_CONTACT_ID: contact.id },
    39_402,
  );
  const {
    url: checkUrl,
    body: checkBody,
    headers: auth,
  } = checkRequest(`http://127.0.0.1:${app.port}`, contact.email, apiKey);
  const baseUrl = `http://127.0.0.1:${base.port}/baseline`;

  // sanity: the measured route answers what it should
  const probe = await fetch(checkUrl, {
    method: 'POST',
    body: checkBody,
    headers: { 'content-type': 'application/json', ...auth },
  });
  const probeBody = await probe.json();
  if (probe.status !== 200 || !probeBody.unsubscribe)
    throw new Error(`check did not answer as expected: ${JSON.stringify(probeBody)}`);

  console.log('warm-up…');
  await cannon(baseUrl, '{}', {}, 2);
  await cannon(checkUrl, checkBody, auth, 2);
  const b: autocannon.Result[] = [];
  const s: autocannon.Result[] = [];
  const appPid = app.child.pid as number;
  const basePid = base.child.pid as number;
  const cpu = {
    baseline: new CpuSplit(),
    check: new CpuSplit(),
    u: new CpuSplit(),
    preferences: new CpuSplit(),
    stream: new CpuSplit(),
    scattered: new CpuSplit(),
  };
  for (let r = 0; r < ROUNDS; r++) {
    b.push(await cpu.baseline.around(basePid, () => cannon(baseUrl, '{}', {}, SECONDS)));
    s.push(await cpu.check.around(appPid, () => cannon(checkUrl, checkBody, auth, SECONDS)));
    console.log(
      `round ${r + 1}: baseline ${Math.round(b[r].requests.average)} req/s, check ${Math.round(s[r].requests.average)} req/s`,
    );
  }
  // Recipient pages, alternating with the baseline the same way.
  const pages = pageUrls(`http://127.0.0.1:${app.port}`, contact.id);
  const pb: autocannon.Result[] = [];
  const pu: autocannon.Result[] = [];
  const pp: autocannon.Result[] = [];
  await cannon(pages.unsubscribe, null, {}, 2);
  await cannon(pages.preferences, null, {}, 2);
  for (let r = 0; r < ROUNDS; r++) {
    pb.push(await cpu.baseline.around(basePid, () => cannon(baseUrl, '{}', {}, SECONDS)));
    pu.push(await cpu.u.around(appPid, () => cannon(pages.unsubscribe, null, {}, SECONDS)));
    pp.push(await cpu.preferences.around(appPid, () => cannon(pages.preferences, null, {}, SECONDS)));
    console.log(
      `pages round ${r + 1}: baseline ${Math.round(pb[r].requests.average)}, /u ${Math.round(pu[r].requests.average)}, /preferences ${Math.round(pp[r].requests.average)} req/s`,
    );
  }
  const pbRps = median(pb.map((x) => x.requests.average));
  const puRps = median(pu.map((x) => x.requests.average));
  const ppRps = median(pp.map((x) => x.requests.average));

  const errors = [...b, ...s, ...pb, ...pu, ...pp].reduce((n, x) => n + x.errors + x.non2xx, 0);
  const bRps = median(b.map((x) => x.requests.average));
  const sRps = median(s.map((x) => x.requests.average));
  const bP99 = median(b.map((x) => x.latency.p99));
  const sP99 = median(s.map((x) => x.latency.p99));

  console.log(`stream of ${STREAM.toLocaleString()} recipients…`);
  // The peak to compare with the stream's target is the one reached while streaming: the high
  // water mark is reset here (Linux: 5 > /proc/<pid>/clear_refs), after the check rounds. The
  // process's peak over the whole run (its 50-connection rounds included) is reported beside it.
  const processPeak = peakRss(app.child.pid as number);
  const atStart = rssNow(app.child.pid as number);
  let hwmReset = true;
  try {
    writeFileSync(`/proc/${app.child.pid}/clear_refs`, '5');
  } catch {
    hwmReset = false;
  }
  // Like the single check, the stream is measured warm: the first pass pulls the contacts index
  // into PostgreSQL's cache and gets the JIT going. Every pass is reported; the median counts.
  const passes: Awaited<ReturnType<typeof stream>>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    passes.push(
      await cpu.stream.around(
        appPid,
        () => stream(app.port, apiKey, STREAM, CONTACTS),
        (p) => p.lines,
      ),
    );
    console.log(`stream pass ${r + 1}: ${Math.round(passes[r].perSecond).toLocaleString()} recipients/s`);
  }
  const st = [...passes].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(passes.length / 2)];
  const warmRss = peakRss(app.child.pid as number);
  // The same recipients in scattered order, once: what a list in signup order costs, each
  // address probing a page of the index of its own (reported beside the service level).
  const scattered = await cpu.scattered.around(
    appPid,
    () => stream(app.port, apiKey, STREAM, CONTACTS, 'scattered'),
    (p) => p.lines,
  );
  console.log(`stream in scattered order: ${Math.round(scattered.perSecond).toLocaleString()} recipients/s`);
  const wholeRun = Math.max(processPeak, warmRss);
  app.child.kill('SIGTERM');
  base.child.kill('SIGTERM');

  // The same passes on a server that has served nothing else: V8 sizes its heap by what it has
  // seen, and a fresh process's first stream used to peak higher (261-288 MB) than one warmed by
  // the check rounds (184-204 MB). The target counts the higher of the two.
  const fresh = await start(compiled('server/index.ts'), serverEnv(URL_ as string), 39_403);
  const freshStart = rssNow(fresh.child.pid as number);
  for (let r = 0; r < ROUNDS; r++) {
    const p = await stream(fresh.port, apiKey, STREAM, CONTACTS);
    console.log(
      `fresh server, stream pass ${r + 1}: ${Math.round(p.perSecond).toLocaleString()} recipients/s`,
    );
  }
  const freshRss = peakRss(fresh.child.pid as number);
  fresh.child.kill('SIGTERM');
  const rss = Math.max(warmRss, freshRss);

  // The import, with the servers stopped (it would share the two cores with them): the COPY
  // floor and the import itself, in a fresh database of their own.
  const importSizes = (process.env.BENCH_IMPORT ?? '100000,1000000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  console.log(
    importSizes.length
      ? `import of ${importSizes.map((n) => n.toLocaleString()).join(' and ')} rows…`
      : 'import: skipped (BENCH_IMPORT=0)',
  );
  // in a process of its own, started as the worker is, so the peak RSS is the import's alone;
  // then the same files again as the web process (which works jobs unless JOBS_IN_WEB=false)
  // runs them, in a database of their own grown the same way (a table's size moves its cost)
  const measureImports = (sizes: number[], flags: string[]): ImportMeasure[] => {
    const out = spawnSync(process.execPath, [...flags, compiled('bench/import.ts')], {
      env: { ...process.env, IMPORT_ROWS: sizes.join(','), IMPORT_JSON: '1' },
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    if (out.status !== 0) throw new Error(`bench/import.ts failed: ${out.stderr}`);
    return JSON.parse(out.stdout.trim().split('\n').at(-1) as string);
  };
  let imports: ImportMeasure[] = [];
  let importsInWeb: ImportMeasure[] = [];
  if (importSizes.length) {
    imports = measureImports(importSizes, WORKER_NODE_FLAGS);
    importsInWeb = measureImports(importSizes, NODE_FLAGS);
  }
  for (const m of imports) console.log(`in the worker: ${describeImport(m)}`);
  for (const m of importsInWeb) console.log(`in the web process: ${describeImport(m)}`);
  // A read replica, when one is given (docs/scaling.md says how one was made here).
  let replica =
    'not measured: set PRIMARY_URL and REPLICA_URL (a hot standby of the bench database; docs/scaling.md)';
  if (REPLICA_URL) {
    console.log('replica: replay resumed…');
    const caughtUp = await replicaCatchUp();
    const out = spawnSync(process.execPath, [path.join(ROOT, 'bench/replica.ts')], {
      env: process.env,
      encoding: 'utf8',
    });
    replica =
      out.status === 0
        ? [
            `replay (paused while the primary was measured) caught up with the run's writes in ${caughtUp.toFixed(1)} s`,
            ...out.stdout.trim().split('\n'),
          ].join('; ') +
          '. A replica on the same machine still receives and writes the WAL all run, on the same two cores and disk: the writes measured above (the imports) pay for it (docs/scaling.md)'
        : `failed: ${out.stderr.trim().slice(0, 300)}`;
    console.log(replica);
  }

  // Each target's parts named, so a line says which part was missed and which was met.
  const ok = (...parts: [string, boolean][]) => {
    const missed = parts.filter(([, pass]) => !pass).map(([name]) => name);
    const met = parts.filter(([, pass]) => pass).map(([name]) => name);
    if (!missed.length) return 'met';
    return `MISSED: ${missed.join(', ')}${met.length ? ` (met: ${met.join(', ')})` : ''}`;
  };
  // Each measured round runs right after its baseline round, so the ratio is taken per pair and
  // the median of those ratios is reported: the box drifts by tens of percent within a run,
  // and a median of baselines against a median of checks can pair a fast minute with a slow one.
  const ratios = (m: autocannon.Result[], base: autocannon.Result[]) =>
    m.map((x, i) => x.requests.average / base[i].requests.average);
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const roundRatios = (m: autocannon.Result[], base: autocannon.Result[]) =>
    ratios(m, base).map(pct).join(', ');
  const checkRatio = median(ratios(s, b));
  const p99Ratio = median(s.map((x, i) => x.latency.p99 / b[i].latency.p99));
  const uRatio = median(ratios(pu, pb));
  const pRatio = median(ratios(pp, pb));
  // With every core busy, req/s is the cores over the CPU a request costs the whole box (server,
  // PostgreSQL and the load generator together), so the baseline's sum over a route's is the
  // ratio the CPU alone allows: what bounds a ratio, measured rather than guessed.
  const baseCpu = cpu.baseline.perRequest().total;
  // a streamed recipient's CPU, split by process, and the rate it allows
  const perRecipient = (split: CpuSplit) => {
    const x = split.perRequest();
    return `server ${x.server.toFixed(2)} µs + PostgreSQL ${x.postgres.toFixed(2)} µs + load generator ${x.loadgen.toFixed(2)} µs (${coresAllow(x.total)}/s)`;
  };
  const streamCpu = perRecipient(cpu.stream);
  const scatteredCpu = perRecipient(cpu.scattered);
  const cpuLine = (
    [
      ['baseline', cpu.baseline],
      ['check', cpu.check],
      ['/u', cpu.u],
      ['/preferences', cpu.preferences],
    ] as const
  )
    .map(([name, c]) => {
      const x = c.perRequest();
      const sum = `${x.server.toFixed(0)} + ${x.postgres.toFixed(0)} + ${x.loadgen.toFixed(0)} = ${x.total.toFixed(0)}`;
      return `${name} ${sum}${name === 'baseline' ? '' : ` (allows ${pct(baseCpu / x.total)})`}`;
    })
    .join('; ');
  const rows = [
    ['baseline (express.json + pg PK select)', `${Math.round(bRps)} req/s`, `p99 ${bP99} ms`, '', ''],
    [
      'POST /api/v1/send-permission (email, known, with unsubscribe headers)',
      `${Math.round(sRps)} req/s`,
      `p99 ${sP99} ms`,
      `${pct(checkRatio)} of baseline req/s, p99 ${p99Ratio.toFixed(2)}x (rounds: ${roundRatios(s, b)})`,
      ok(['req/s', checkRatio >= 0.75], ['p99', p99Ratio <= 1.5]),
    ],
    [
      `POST /send-permission/stream (${STREAM.toLocaleString()} recipients, ${CONTACTS.toLocaleString()} contacts)`,
      `${Math.round(st.perSecond).toLocaleString()} recipients/s`,
      `${st.seconds.toFixed(1)} s`,
      `server peak RSS ${mb(warmRss)} MB while streaming${hwmReset ? '' : ' (not reset: the whole run)'}, ${mb(atStart)} MB when the stream began (${mb(wholeRun)} MB over the whole run); a fresh server ${mb(freshRss)} MB (${mb(freshStart)} MB at start); CPU per recipient, all passes: ${streamCpu}`,
      ok(
        ['rate', st.perSecond >= 250_000],
        ['RSS', rss < 200 * 1024 * 1024],
        ['a line per recipient', st.lines === STREAM],
      ),
    ],
    [
      'GET /u/{token} (unsubscribe page)',
      `${Math.round(puRps)} req/s`,
      `p99 ${median(pu.map((x) => x.latency.p99))} ms`,
      `${pct(uRatio)} of baseline (rounds: ${roundRatios(pu, pb)}; baseline ${Math.round(pbRps)} req/s)`,
      ok(['req/s', uRatio >= 0.5]),
    ],
    [
      'GET /preferences/{token} (preference center)',
      `${Math.round(ppRps)} req/s`,
      `p99 ${median(pp.map((x) => x.latency.p99))} ms`,
      `${pct(pRatio)} of baseline (rounds: ${roundRatios(pp, pb)})`,
      ok(['req/s', pRatio >= 0.5]),
    ],
    ...imports.map((m) => [
      `console import, ${m.rows.toLocaleString()} rows (new contacts, a tenth with opt-outs; \`npm run worker\`)`,
      `${Math.round(m.rowsPerSecond).toLocaleString()} rows/s`,
      `${m.seconds.toFixed(1)} s`,
      `COPY floor ${Math.round(m.copyRowsPerSecond).toLocaleString()} rows/s (${((100 * m.rowsPerSecond) / m.copyRowsPerSecond).toFixed(1)}% of it); contacts and their events by SQL alone in one backend ${Math.round(m.schemaRowsPerSecond).toLocaleString()} rows/s; peak RSS ${m.peakRssMb.toFixed(0)} MB; ${m.imported.toLocaleString()} imported, ${m.failed} failed; ${cpuPerRow(m)}`,
      ok(
        ['rate', m.rowsPerSecond >= 25_000],
        ['RSS', m.peakRssMb < 300],
        ['every row', m.imported === m.rows],
      ),
    ]),
    ...importsInWeb.map((m) => [
      `the same ${m.rows.toLocaleString()} rows worked by the web process (\`npm start\`'s flags, JOBS_IN_WEB=true)`,
      `${Math.round(m.rowsPerSecond).toLocaleString()} rows/s`,
      `${m.seconds.toFixed(1)} s`,
      `peak RSS ${m.peakRssMb.toFixed(0)} MB; ${m.imported.toLocaleString()} imported, ${m.failed} failed; ${cpuPerRow(m)}`,
      'for comparison',
    ]),
  ];
  const table = [
    '| measure | throughput | latency / time | ratio | target (SPEC) |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  const md = `# Benchmark results

Run: ${new Date().toISOString()} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), Node ${process.version}.
Medians of ${ROUNDS} alternating rounds of ${SECONDS} s at 50 connections after a warm-up (ratios: median of the per-round ratios); ${errors} errors or non-2xx.
Stream passes: ${passes.map((p) => `${Math.round(p.perSecond).toLocaleString()}/s`).join(', ')} (median counts; the first pass runs with a cold cache).
Stream: ${st.lines.toLocaleString()} answer lines for ${STREAM.toLocaleString()} input lines (${st.allowed.toLocaleString()} allowed).
The same stream in scattered order (a list in signup order rather than sorted by address; one pass, not the service level's measure): ${Math.round(scattered.perSecond).toLocaleString()} recipients/s, ${scattered.lines.toLocaleString()} answer lines; CPU per recipient: ${scatteredCpu}.

${table}

CPU per request over all rounds, µs (server + PostgreSQL + load generator = the box): ${cpuLine}.

Replica: ${replica}.

Targets (SPEC "Service levels"): single ≥ 75% of baseline req/s with p99 ≤ 1.5x baseline; stream ≥ 250,000 recipients/s with server RSS < 200 MB; pages ≥ 50% of baseline req/s; import ≥ 25,000 rows/s with RSS < 300 MB.
Rerun: \`DATABASE_URL=postgres://… npm run bench\` (BENCH_ROUNDS, BENCH_SECONDS, BENCH_STREAM, BENCH_CONTACTS, BENCH_IMPORT=100000,1000000 adjust it; PRIMARY_URL and REPLICA_URL add the replica).
`;
  writeFileSync(path.join(ROOT, 'bench/results.md'), md);
  console.log(
    `\n${table}\n\nCPU per request, µs (server + PostgreSQL + load generator): ${cpuLine}\n\nwritten to bench/results.md`,
  );
  if (errors > 0) process.exitCode = 1;
}

main().catch(async (err) => {
  console.error(err);
  // never leave the replica paused
  if (REPLICA_URL) await onReplica('select pg_wal_replay_resume()').catch(() => {});
  process.exit(1);
});
