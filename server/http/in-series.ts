// Fewer layers for a request to walk. Express's router makes a match result, a params object and
// a closure for every layer a request passes through, matched or not; a check walked a dozen of
// them on its way to its route and allocated twice what the baseline does (45.7 KB a request
// against 23.4 KB, V8's sampling heap profiler; docs/scaling.md), and young-generation collection
// was its largest extra cost. Middlewares every request passes run here as one layer.
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** The handlers one after another, as a single middleware (each one's next() runs the following). */
export function inSeries(...handlers: RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    let i = 0;
    const step = (err?: unknown) => {
      if (err) return next(err);
      const handler = handlers[i++];
      if (!handler) return next();
      try {
        // An async middleware's rejection goes where Express would send it.
        const out = handler(req, res, step) as unknown;
        if (out instanceof Promise) out.catch(next);
      } catch (thrown) {
        next(thrown);
      }
    };
    step();
  };
}

/**
 * A router reached only by the exact paths given (others pass by without entering it). Its
 * routes stay readable as `stack` (tests walk the app's router to cover every route).
 */
export function onlyAt(paths: string[], router: RequestHandler & { stack: unknown[] }) {
  const known = new Set(paths);
  const gate = (req: Request, res: Response, next: NextFunction) =>
    known.has(req.path) ? router(req, res, next) : next();
  return Object.assign(gate, { stack: router.stack });
}
