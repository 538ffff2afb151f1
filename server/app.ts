// createApp wires middleware and routers in order; it never listens (index.ts and tests do).
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { type Logger, pino } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Config } from './config.ts';
import { contactRoutes } from './contacts/routes.ts';
import type { Db } from './db.ts';
import { type ApiAuth, createApiAuth } from './http/api-auth.ts';
import { errorHandler } from './http/error-handler.ts';
import { AppError } from './http/errors.ts';
import { healthRoutes } from './http/health.ts';
import { createMetrics, type Metrics } from './http/metrics.ts';
import { openApiDocument } from './http/openapi.ts';
import { redactPath } from './http/redact.ts';
import { createLedger, type Ledger } from './ledger/ledger.ts';
import { permissionRoutes, permissionStreamRoutes } from './permission/routes.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

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
}

export const JSON_LIMIT = '4mb';

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
  };

  const app = express();
  app.locals.ctx = ctx;
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.trustProxy);
  app.set('view engine', 'ejs');
  app.set('views', path.join(root, 'views'));
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      serializers: {
        req: (req) => ({ id: req.id, method: req.method, url: redactPath(req.url) }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
    }),
  );
  app.use(metrics.middleware);
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
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
    }),
  );
  app.use('/static', express.static(path.join(root, 'public'), { maxAge: '1h', index: false }));

  app.use(healthRoutes(ctx));

  const api = express.Router();
  api.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(deps.config.baseUrl));
  });
  api.use(permissionStreamRoutes(ctx)); // reads its own body, any size
  api.use(express.json({ limit: JSON_LIMIT }));
  api.use(permissionRoutes(ctx));
  api.use(contactRoutes(ctx));
  app.use('/api', api);
  api.use((_req, _res, next) =>
    next(new AppError('not_found', 'No such API route. See GET /api/openapi.json.')),
  );

  app.use((_req, _res, next) => next(new AppError('not_found', 'There is nothing at this address.')));
  app.use(errorHandler(logger));
  return app as Express & { locals: { ctx: AppContext } };
}
