// A durable local spool for inbound opt-outs that arrive while the database is unreachable.
// Twilio retries a failed webhook only briefly (about 15 s with #rc/#rp overrides), so a STOP
// during a longer outage would be lost: instead it is written here, one file per text, fsync'd
// (file, then the rename, then the directory) before Twilio is told it was received, and applied
// when the database answers again. Applying goes through applyInboundText, which claims the
// message id in the same transaction: a text applied twice (spooled while a slow transaction
// still committed, or a drain cut short) changes state once.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Core } from '../core.ts';
import { isDatabaseUnavailable } from '../http/errors.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Origin } from '../ledger/ledger.ts';
import { applyInboundText, type InboundText } from './service.ts';

export interface SpooledText extends InboundText {
  sid: string; // always set: a text without a provider id gets a local one, so it applies once
  origin: Origin;
  receivedAt: string;
}

export interface Spool {
  add(text: InboundText, origin: Origin, receivedAt: Date): Promise<void>;
  /** Applies what waits, oldest first; stops at the first database failure. */
  drain(): Promise<{ applied: number; left: number }>;
  depth(): Promise<number>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

async function fsyncPath(p: string) {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function createSpool(core: Core, dir: string, logger: Logger, metrics: Metrics): Spool {
  let timer: NodeJS.Timeout | undefined;
  let draining: Promise<{ applied: number; left: number }> | null = null;
  const files = async () => {
    try {
      return (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  };

  async function drainOnce() {
    const names = await files();
    let applied = 0;
    for (const [i, name] of names.entries()) {
      const file = path.join(dir, name);
      let text: SpooledText;
      try {
        text = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // another drain took it
        // A torn write cannot happen (rename after fsync); keep an unreadable file for a person.
        logger.error({ err, file }, 'unreadable spooled opt-out left in place');
        continue;
      }
      try {
        await applyInboundText(core, text.origin, text);
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          metrics.spoolDepth.set(names.length - i);
          return { applied, left: names.length - i };
        }
        throw err;
      }
      await unlink(file).catch(() => {});
      applied++;
    }
    metrics.spoolDepth.set(0);
    if (applied) logger.info({ applied }, 'spooled opt-outs applied');
    return { applied, left: 0 };
  }

  const spool: Spool = {
    async add(text, origin, receivedAt) {
      await mkdir(dir, { recursive: true });
      const entry: SpooledText = {
        ...text,
        sid: text.sid ?? `local-${randomUUID()}`,
        origin,
        receivedAt: receivedAt.toISOString(),
      };
      // Names sort by arrival; the id keeps two texts in one millisecond apart.
      const name = `${receivedAt.getTime().toString().padStart(15, '0')}-${randomUUID()}.json`;
      const tmp = path.join(dir, `.${name}.tmp`);
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(entry));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path.join(dir, name));
      await fsyncPath(dir);
      metrics.spoolDepth.set((await files()).length);
    },
    drain() {
      // One drain at a time: the timer and a test (or shutdown) may ask together.
      draining ??= drainOnce().finally(() => {
        draining = null;
      });
      return draining;
    },
    async depth() {
      return (await files()).length;
    },
    start(intervalMs) {
      if (timer) return;
      const tick = () => {
        spool
          .drain()
          .catch((err) => logger.error({ err }, 'could not apply spooled opt-outs'))
          .finally(() => {
            if (timer) timer = setTimeout(tick, intervalMs).unref();
          });
      };
      timer = setTimeout(tick, 0).unref();
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await draining?.catch(() => {});
    },
  };
  return spool;
}
