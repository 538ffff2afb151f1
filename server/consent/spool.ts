// A durable local spool for opt-outs that arrive while the database is unreachable: inbound
// texts, and RFC 8058 one-click unsubscribes (mail clients do not retry either).
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
import { isDatabaseUnavailable } from '../errors.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Origin } from '../ledger/ledger.ts';
import { listTopics, unsubscribeByLink } from '../preferences/service.ts';
import { applyInboundText, type InboundText } from './service.ts';

export interface SpooledText extends InboundText {
  kind?: 'text'; // (absent in the first spool files: a text)
  sid: string; // always set: a text without a provider id gets a local one, so it applies once
  origin: Origin;
  receivedAt: string;
}

/** An RFC 8058 one-click unsubscribe that arrived while the database was away. */
export interface SpooledOneClick {
  kind: 'one-click';
  contactId: string;
  topic: string;
  origin: Origin;
  receivedAt: string;
}

type Spooled = SpooledText | SpooledOneClick;

export interface Spool {
  add(text: InboundText, origin: Origin, receivedAt: Date): Promise<void>;
  addOneClick(contactId: string, topic: string, origin: Origin, receivedAt: Date): Promise<void>;
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
      let entry: Spooled;
      try {
        entry = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // another drain took it
        // A torn write cannot happen (rename after fsync); keep an unreadable file for a person.
        logger.error({ err, file }, 'unreadable spooled opt-out left in place');
        continue;
      }
      try {
        if (entry.kind === 'one-click') {
          // Unsubscribing twice changes nothing: applying an entry again is harmless.
          const topics = await listTopics(core.db.knex);
          const topic = topics.find((t) => t.slug === entry.topic);
          if (topic?.kind === 'marketing')
            await unsubscribeByLink(core, entry.origin, entry.contactId, entry.topic);
        } else {
          await applyInboundText(core, entry.origin, entry);
        }
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          metrics.spoolDepth.set(names.length - i);
          return { applied, left: names.length - i };
        }
        // Nothing a retry could fix (an erased contact, a topic gone): logged, set aside.
        logger.error({ err, file }, 'spooled opt-out could not be applied; removed');
      }
      await unlink(file).catch(() => {});
      applied++;
    }
    metrics.spoolDepth.set(0);
    if (applied) logger.info({ applied }, 'spooled opt-outs applied');
    return { applied, left: 0 };
  }

  async function write(entry: Spooled, receivedAt: Date) {
    await mkdir(dir, { recursive: true });
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
  }

  const spool: Spool = {
    add(text, origin, receivedAt) {
      const sid = text.sid ?? `local-${randomUUID()}`;
      return write({ ...text, kind: 'text', sid, origin, receivedAt: receivedAt.toISOString() }, receivedAt);
    },
    addOneClick(contactId, topic, origin, receivedAt) {
      return write(
        { kind: 'one-click', contactId, topic, origin, receivedAt: receivedAt.toISOString() },
        receivedAt,
      );
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
