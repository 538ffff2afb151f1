// Fewer layers for a request to walk. Express's router makes a match result, a params object and
// a closure for every layer a request passes through, matched or not; a check walked a dozen of
// them on its way to its route and allocated twice what the baseline does (45.7 KB a request
// against 23.4 KB, V8's sampling heap profiler; docs/scaling.md), and young-generation collection
// was its largest extra cost. Middlewares every request passes run as one layer (`inSeries`), and
// a router only some paths can reach is entered only by them (`under`, `onlyItsPaths`).
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';

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

type RouterLike = RequestHandler & { stack: { route?: { path?: unknown } }[] };

/**
 * The router, entered only by requests whose path `reaches` it (others pass by). Its routes stay
 * readable as `stack` (tests walk the app's router to cover every route).
 */
function gated(reaches: (path: string) => boolean, router: RouterLike) {
  const gate = (req: Request, res: Response, next: NextFunction) =>
    reaches(req.path) ? router(req, res, next) : next();
  return Object.assign(gate, { stack: router.stack });
}

/** Routers whose routes all lie under a first path segment, entered only by paths under it. */
export function under(prefix: string, ...routers: RequestHandler[]) {
  const all = express.Router();
  for (const r of routers) all.use(r);
  return gated((p) => p === prefix || p.startsWith(`${prefix}/`), all);
}

/** A router of fixed paths (no parameters), entered only by the paths of its own routes. */
export function onlyItsPaths(router: RouterLike) {
  const paths = new Set(router.stack.map((layer) => layer.route?.path).filter((p) => typeof p === 'string'));
  return gated((p) => paths.has(p), router);
}
