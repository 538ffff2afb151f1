// Where CPU goes during a load, read from Linux's /proc: this machine's PostgreSQL processes and
// any process by pid. No dependencies of its own, so the import bench can use it without
// loading anything that would count against its memory.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type autocannon from 'autocannon';

/** A process's CPU time in seconds (user + system; Linux /proc, 100 ticks a second). */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of every PostgreSQL process on this machine, by pid. */
export function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres')
        out.set(Number(entry), cpuSecondsOf(Number(entry)));
    } catch {} // gone meanwhile
  }
  return out;
}

/**
 * Where a load's CPU went, per request: the server process, PostgreSQL (its processes on this
 * machine: the backends serving the load and the rest of the cluster) and this process (the
 * load generator). On a box whose cores are all busy, throughput is the cores divided by the sum,
 * so the sums say what a ratio between two routes can be before any of them is measured.
 */
export class CpuSplit {
  private server = 0;
  private postgres = 0;
  private loadgen = 0;
  private requests = 0;

  /** Runs a load against the server with this pid; `count` says how many requests (or items) it served. */
  async around<T = autocannon.Result>(
    serverPid: number,
    load: () => Promise<T>,
    count: (result: T) => number = (r) => (r as autocannon.Result).requests.total,
  ): Promise<T> {
    const pg0 = postgresCpu();
    const server0 = cpuSecondsOf(serverPid);
    const own0 = process.cpuUsage();
    const result = await load();
    const own = process.cpuUsage(own0);
    this.server += cpuSecondsOf(serverPid) - server0;
    // A backend that began during the load (a pool reconnecting after idling) counts whole; one
    // that ended during it took its time along (pools keep their connections through a round).
    this.postgres += postgresSecondsSince(pg0);
    this.loadgen += (own.user + own.system) / 1e6;
    this.requests += count(result);
    return result;
  }

  /** Microseconds of CPU per request. */
  perRequest() {
    const us = (s: number) => (this.requests ? (s * 1e6) / this.requests : 0);
    const server = us(this.server);
    const postgres = us(this.postgres);
    const loadgen = us(this.loadgen);
    return { server, postgres, loadgen, total: server + postgres + loadgen };
  }
}

/** PostgreSQL's CPU seconds between two readings of postgresCpu (a backend that began in between counts whole). */
export function postgresSecondsSince(before: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of postgresCpu()) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** What this machine's cores allow at `us` µs of CPU an item, all of them busy: "2 cores allow 16,381". */
export function coresAllow(us: number): string {
  const cores = os.cpus().length;
  return `${cores} cores allow ${Math.round((cores * 1e6) / us).toLocaleString()}`;
}
