// createApp wires middleware and routers in order; it never listens (index.ts and tests do).

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { type Logger, pino } from 'pino';
import { Gauge } from 'prom-client';
import { adminRoutes } from './admin/routes.ts';
import { apiRoutes } from './api.ts';
import { brandCss, knownBrand } from './brand/service.ts';
import type { Config } from './config.ts';
import { smsWebhookRoutes } from './consent/sms-webhook.ts';
import { createSpool, type Spool } from './consent/spool.ts';
import { createTexter, sendConsentConfirmation, type Texter } from './consent/texts.ts';
import type { Db } from './db.ts';
import { DomainError } from './errors.ts';
import { type ApiAuth, createApiAuth } from './http/api-auth.ts';
import { errorHandler, isApiPath } from './http/error-handler.ts';
import { healthRoutes } from './http/health.ts';
import { jsonBodiesOnly, refuseBadBody, refuseBadUrl } from './http/input.ts';
import { inSeries, onlyItsPaths, under } from './http/layers.ts';
import { createMetrics, type Metrics } from './http/metrics.ts';
import { PageShapes } from './http/page-shapes.ts';
import { requestLog } from './http/request-log.ts';
import { mountApi } from './http/route-table.ts';
import { viewEngine } from './http/views.ts';
import { format, LOCALES, strings } from './i18n/index.ts';
import { runImportJob } from './imports/service.ts';
import { createJobs, type Jobs, QUEUES } from './jobs/jobs.ts';
import { createLedger, type Ledger } from './ledger/ledger.ts';
import { inboundEmailRoutes } from './mail/inbound-webhook.ts';
import { createMailer, type Mailer } from './mail/service.ts';
import { transportFor } from './mail/transport.ts';
import { sendgridWebhookRoutes } from './mail/webhook.ts';
import { preferencePages } from './preferences/routes.ts';
import { sendPreferencesLink } from './preferences/service.ts';
import { sendDataRequestMail } from './requests/service.ts';
import { createDispatcher, type Dispatcher } from './webhooks/dispatcher.ts';
import { webhookLag } from './webhooks/service.ts';

// The project's directory (views/, public/): server/.. when run from the sources, dist/server/../..
// when run compiled (npm start).
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, existsSync(path.join(here, '..', 'views')) ? '..' : '../..');

export interface AppDeps {
  config: Config;
  db: Db;
  logger?: Logger;
  now?: () => Date;
}

/** Everything a request handler may need, built once per app. */
export interface AppContext {
  config: Config;
  db: Db;
  ledger: Ledger;
  logger: Logger;
  metrics: Metrics;
  apiAuth: ApiAuth;
  /** The clock decisions use (quiet hours); tests may fix it. */
  now: () => Date;
  /** The gateway's send path (SendGrid or the local outbox). */
  mailer: Mailer;
  /** Inbound opt-outs kept on disk while the database is away (index.ts drains it). */
  spool: Spool;
  /** Durable background work (index.ts or worker.ts starts it). */
  jobs: Jobs;
  /** Outbound webhook delivery (runs where jobs are worked). */
  webhooks: Dispatcher;
  /** The texts the center sends itself (Twilio or the local outbox). */
  texter: Texter;
}

export const JSON_LIMIT = '4mb';

const isMachinePath = (p: string) => isApiPath(p) || p === '/healthz' || p === '/readyz';

export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'password', '*.password'],
      censor: '[redacted]',
    },
  });
}

export function createApp(deps: AppDeps): Express & { locals: { ctx: AppContext } } {
  const logger = deps.logger ?? createLogger(deps.config.logLevel);
  const metrics = createMetrics();
  const ctx: AppContext = {
    config: deps.config,
    db: deps.db,
    ledger: createLedger(deps.config.hashSecret),
    logger,
    metrics,
    apiAuth: createApiAuth(deps.db.knex, (err) => logger.warn({ err }, 'could not record API key use')),
    now: deps.now ?? (() => new Date()),
    mailer: undefined as unknown as Mailer,
    spool: undefined as unknown as Spool,
    jobs: undefined as unknown as Jobs,
    webhooks: undefined as unknown as Dispatcher,
    texter: undefined as unknown as Texter,
  };
  ctx.mailer = createMailer(ctx, transportFor(deps.config));
  ctx.spool = createSpool(ctx, path.join(deps.config.dataDir, 'spool', 'sms'), logger, metrics);
  ctx.jobs = createJobs(ctx, logger);
  // Loss-path metric: how long the oldest waiting job of each queue has waited (read on scrape).
  new Gauge({
    name: 'job_queue_oldest_seconds',
    help: 'Seconds the oldest waiting background job of each queue has waited',
    labelNames: ['queue'] as const,
    registers: [metrics.registry],
    async collect() {
      const ages = await ctx.jobs.queueAges().catch(() => ({}) as Record<string, number>);
      for (const q of Object.values(QUEUES)) this.set({ queue: q }, ages[q] ?? 0);
    },
  });
  ctx.webhooks = createDispatcher(ctx, logger, {
    production: deps.config.env === 'production',
    allowPrivate: deps.config.webhookAllowPrivateUrls,
  });
  // Loss-path metric: how far each webhook endpoint is behind the feed (read on scrape).
  new Gauge({
    name: 'webhook_lag_seconds',
    help: 'Seconds since the oldest event a webhook endpoint has not received yet was committed (0: caught up)',
    labelNames: ['endpoint', 'state'] as const,
    registers: [metrics.registry],
    async collect() {
      this.reset();
      const rows = await webhookLag(deps.db.knex).catch(() => []);
      for (const r of rows) this.set({ endpoint: r.id, state: r.state }, r.lag);
    },
  });
  ctx.texter = createTexter(ctx);
  ctx.jobs.handle(QUEUES.smsConfirmation, (d) =>
    sendConsentConfirmation(ctx, ctx.texter, String(d.consentId)),
  );
  ctx.jobs.handle(QUEUES.importRun, (d) => runImportJob(ctx, String(d.importId)));
  ctx.jobs.handle(QUEUES.dataRequestMail, (d) =>
    sendDataRequestMail(ctx, ctx.mailer, String(d.requestId), d.token ? String(d.token) : undefined),
  );
  ctx.jobs.handle(QUEUES.preferencesLink, (d) =>
    sendPreferencesLink(ctx, ctx.mailer, String(d.contactId), d.locale === 'es' ? 'es' : 'en').then(() => {}),
  );

  const app = express();
  app.locals.ctx = ctx;
  app.disable('x-powered-by');
  // No ETags: pages and decisions are no-store, and hashing every body costs CPU for nothing.
  app.set('etag', false);
  app.set('trust proxy', deps.config.trustProxy);
  app.set('view engine', 'ejs');
  app.set('views', path.join(root, 'views'));
  // Templates are compiled once, except in development, where they change under a running
  // server (Express's own default would also recompile them under NODE_ENV=test: the tests
  // render pages the way production does).
  app.set('view cache', deps.config.env !== 'development');
  const views = viewEngine(path.join(root, 'views'), () => app.enabled('view cache'));
  app.engine('ejs', views.engine);
  app.set(
    'page shapes',
    new PageShapes({
      render: views.render,
      enabled: () => app.enabled('view cache'),
      named: new Map<unknown, string>([
        ...LOCALES.map((l) => [strings(l), `strings:${l}`] as const),
        [format, 'format'],
      ]),
      onWhole: (view) =>
        logger.warn({ view }, 'page shapes: a personal string is not only printed here; rendering it whole'),
    }),
  );
  app.set('query parser', 'simple');

  // Pages get helmet's full set with a strict CSP. JSON under /api, /webhooks and /metrics is
  // never rendered by a browser, so it gets the headers that matter there, set at once: on the
  // hot check path helmet's dozen per-request setHeader calls cost about 5% of throughput.
  const pageHeaders = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        // The brand's logo may live on the company's own site (https only).
        imgSrc: ["'self'", 'data:', 'https:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    // The app never redirects to HTTPS itself; the platform's router terminates TLS.
    strictTransportSecurity: deps.config.baseUrl.startsWith('https:') ? undefined : false,
  });
  const machineHeaders: [string, string][] = [
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
    ['Cache-Control', 'no-store'],
  ];
  // helmet's answer does not depend on the request with this configuration: take it once and
  // set the same headers on every page (helmet itself runs a dozen middlewares per request).
  const pageHeaderList: [string, string][] = [];
  let computed = false;
  pageHeaders(
    { headers: {} } as express.Request,
    {
      setHeader: (name: string, value: unknown) => pageHeaderList.push([name, String(value)]),
      removeHeader: () => {},
      getHeader: () => undefined,
    } as unknown as express.Response,
    () => {
      computed = true;
    },
  );
  const securityHeaders: express.RequestHandler = (req, res, next) => {
    const list = isMachinePath(req.path) ? machineHeaders : computed ? pageHeaderList : null;
    if (!list) return pageHeaders(req, res, next);
    for (const [name, value] of list) res.setHeader(name, value);
    next();
  };

  const cssHrefs = new Map<string, string>();
  const brandCssHref = (color: string) => {
    let href = cssHrefs.get(color);
    if (!href) {
      href = `/brand.css?v=${createHash('sha256').update(color).digest('hex').slice(0, 8)}`;
      if (cssHrefs.size > 100) cssHrefs.clear();
      cssHrefs.set(color, href);
    }
    return href;
  };
  // Every page shows the brand, as last read: a page never waits on the database for it (a
  // one-click unsubscribe during a database hang must still reach its spool). The copy is
  // refreshed behind the request every 5 s; until the first read, the BRAND_* defaults. Its
  // colour comes as a stylesheet, since the CSP allows no inline style.
  knownBrand(ctx);
  const brandLocals: express.RequestHandler = (req, res, next) => {
    if (isMachinePath(req.path)) return next();
    const brand = knownBrand(ctx);
    res.locals.brand = brand;
    res.locals.brandCss = brandCssHref(brand.color);
    next();
  };

  // What every request passes, as one layer (layers.ts says why).
  app.use(inSeries(requestLog(logger), metrics.middleware, securityHeaders, brandLocals));
  app.use('/static', express.static(path.join(root, 'public'), { maxAge: '1h', index: false }));
  app.use(onlyItsPaths(healthRoutes(ctx)));
  app.get('/brand.css', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('text/css').send(brandCss(res.locals.brand));
  });

  // The API: routes that read their own body first, then the JSON parser and input hygiene.
  const routes = apiRoutes(ctx);
  const api = express.Router();
  mountApi(
    api,
    ctx.apiAuth,
    routes.filter((r) => r.scope === 'public'),
  );
  api.use(refuseBadUrl);
  mountApi(
    api,
    ctx.apiAuth,
    routes.filter((r) => r.scope !== 'public' && r.body === 'stream'),
  );
  api.use(inSeries(express.json({ limit: JSON_LIMIT }), jsonBodiesOnly, refuseBadBody));
  mountApi(
    api,
    ctx.apiAuth,
    routes.filter((r) => r.scope !== 'public' && r.body !== 'stream'),
  );
  app.use('/api', api);
  api.use((_req, _res, next) =>
    next(new DomainError('not_found', 'No such API route. See GET /api/openapi.json.')),
  );

  // Each part's router declares whole paths; a request only walks the routers its first path
  // segment can reach (a recipient page used to be matched against every console route first).
  app.use(under('/admin', adminRoutes(ctx)));
  app.use(under('/webhooks', sendgridWebhookRoutes(ctx), inboundEmailRoutes(ctx), smsWebhookRoutes(ctx)));
  app.use(preferencePages(ctx));

  app.use((_req, _res, next) => next(new DomainError('not_found', 'There is nothing at this address.')));
  app.use(errorHandler(logger));
  return app as Express & { locals: { ctx: AppContext } };
}
