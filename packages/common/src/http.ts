import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Koa, { type Context, type Middleware } from 'koa';
import bodyParser from 'koa-bodyparser';
import helmet from 'koa-helmet';
import Router from '@koa/router';
import type { Registry } from 'prom-client';
import { OPERATIONAL_PUBLIC_ROUTES, requireApiKey, withApiKeys, type PublicRoute } from './access.js';
import { isStorageFull, StorageFullError } from './database.js';
import { AppError, notFound, problemType, titleFor, type FieldError, type ProblemDocument } from './errors.js';
import type { Logger } from './logger.js';
import { requestMetrics } from './metrics.js';
import type { OpenApiDocument } from './openapi.js';
import { DatabaseUnavailableError, isDatabaseUnavailable } from './postgres.js';
import type { ServiceDatabase } from './service-database.js';

const REQUEST_ID = /^[\w.:-]{1,128}$/;
export const MAX_BODY = '64kb';

/**
 * Successful reads and probes (the middleware's polls, /health, /ready, /metrics) are the noise of
 * an idle system: debug. Writes and every refusal are the story: info. A 503 or 507 is a condition
 * the service reports once by itself, so each request it refuses is a warning, not an error.
 */
export function requestLogLevel(method: string, status: number): string {
  if (status === 503 || status === 507) return 'warn';
  if (status >= 500) return 'error';
  if (status < 400 && (method === 'GET' || method === 'HEAD')) return 'debug';
  return 'info';
}

/**
 * Outermost middleware: gives every request an id (the caller's, when it is sane), echoes it,
 * and logs the request once when the answer is known.
 */
export function requestLogging(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const given = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100;
      const fields = { method: ctx.method, path: ctx.path, status: ctx.status, ms, requestId };
      logger.log(
        requestLogLevel(ctx.method, ctx.status),
        `${ctx.method} ${ctx.path} answered ${ctx.status} in ${ms} ms`,
        fields,
      );
    }
  };
}

function renderProblem(ctx: Context, problem: ProblemDocument): void {
  ctx.status = problem.status;
  ctx.body = problem;
  ctx.type = 'application/problem+json';
}

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  message?: string;
}

/** Codes for the client errors raised by the body parser (raw-body and co-body). */
function codeOfClientError(error: HttpLikeError, status: number): { code: string; detail: string } {
  if (status === 413) return { code: 'body-too-large', detail: `The request body is larger than ${MAX_BODY}.` };
  if (status === 415) return { code: 'unsupported-media-type', detail: error.message ?? 'Unsupported encoding.' };
  if (error instanceof SyntaxError) {
    return { code: 'malformed-json', detail: `The request body is not valid JSON: ${error.message ?? 'parse error'}.` };
  }
  return { code: 'bad-request', detail: error.message ?? 'The request could not be read.' };
}

/**
 * Renders every failure as RFC 9457 problem+json: our own AppErrors, the client errors of the
 * libraries below (body parser, router), the empty 404/405 Koa leaves behind, and, for anything
 * unexpected, a plain 500 whose stack goes to the log and never to the client.
 */
export function problemDetails(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      if (caught instanceof AppError) {
        ctx.set(caught.headers);
        renderProblem(ctx, caught.toProblem());
        return;
      }
      if (isStorageFull(caught) || isDatabaseUnavailable(caught)) {
        const refusal = isStorageFull(caught) ? new StorageFullError(caught) : new DatabaseUnavailableError(caught);
        ctx.set(refusal.headers);
        renderProblem(ctx, refusal.toProblem());
        return;
      }
      const error = caught as HttpLikeError;
      const status = error.status ?? error.statusCode;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        const { code, detail } = codeOfClientError(error, status);
        renderProblem(ctx, { type: problemType(code), title: titleFor(status), status, detail });
        return;
      }
      logger.error('Unexpected error while answering a request', {
        requestId: ctx.state.requestId,
        method: ctx.method,
        path: ctx.path,
        error: caught instanceof Error ? caught.stack : String(caught),
      });
      renderProblem(ctx, {
        type: problemType('internal-error'),
        title: titleFor(500),
        status: 500,
        detail: 'The server failed to answer this request; the error is in its log.',
      });
      return;
    }
    if (ctx.body !== undefined && ctx.body !== null) return;
    if (ctx.status === 404) {
      renderProblem(ctx, {
        type: problemType('not-found'),
        title: titleFor(404),
        status: 404,
        detail: `There is no ${ctx.path} here.`,
      });
    } else if (ctx.status === 405 || ctx.status === 501) {
      renderProblem(ctx, {
        type: problemType('method-not-allowed'),
        title: titleFor(405),
        status: 405,
        detail: `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}.`,
      });
    }
  };
}

/**
 * The body of a route that takes one: JSON only, at most 64 KiB. koa-bodyparser quietly ignores
 * other content types, so the 415 is ours; a request without a body reads as `{}` and fails
 * validation instead. Routes that take no body do not use it, so a body sent to them is ignored.
 */
export function jsonBody(): Middleware {
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: MAX_BODY, strict: true });
  return async (ctx, next) => {
    // An empty POST (Content-Length: 0, as Postman sends for a bodiless replay) has nothing to refuse.
    const hasBody = ctx.get('Transfer-Encoding') !== '' || (ctx.request.length ?? 0) > 0;
    if (hasBody && !ctx.is('application/json')) {
      throw new AppError(
        415,
        'unsupported-media-type',
        `Request bodies must be application/json, not ${ctx.get('Content-Type') || 'an unnamed type'}.`,
      );
    }
    try {
      await parse(ctx, async () => {});
    } catch (error) {
      // A body that says it is compressed and is not (zlib's and brotli's errors carry no HTTP
      // status) is the client's error.
      const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
      if (ctx.get('Content-Encoding') !== '' && status === undefined && statusCode === undefined) {
        throw new AppError(
          400,
          'malformed-body',
          `The request body could not be decompressed (Content-Encoding: ${ctx.get('Content-Encoding')}): ` +
            `${(error as Error).message}.`,
        );
      }
      throw error;
    }
    return next();
  };
}

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const docsAssets: Record<string, string> = {
  'swagger-ui.css': 'text/css',
  'swagger-ui-bundle.js': 'application/javascript',
};

function docsPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${title}: API documentation</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;
}

/** A check of something the service needs; it names what is wrong, or returns nothing. */
export type ReadinessCheck = () => Promise<FieldError | undefined> | FieldError | undefined;

/**
 * Readiness of a service's database. SQLite: it answers a trivial query (`database`), and its disk
 * takes writes (`storage`, from the guard every write goes through). PostgreSQL: the server
 * answers a trivial query within the pool's timeout.
 */
export function databaseChecks(database: ServiceDatabase): ReadinessCheck[] {
  if (database.kind === 'postgres') return [() => database.pg.readiness()];
  const answers: ReadinessCheck = () => {
    try {
      database.db.prepare('SELECT 1').get();
      return undefined;
    } catch (error) {
      return { field: 'database', message: (error as Error).message };
    }
  };
  return [answers, database.storage.readiness];
}

/**
 * The routes every service has: liveness, readiness, Prometheus metrics, its OpenAPI document
 * and a Swagger UI served from the swagger-ui-dist package (no CDN).
 */
export function addOperationalRoutes(router: Router, options: ServiceAppOptions): void {
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/ready', async (ctx) => {
    const errors = (await Promise.all(options.readiness.map((check) => check()))).filter(
      (e): e is FieldError => e !== undefined,
    );
    if (errors.length > 0) {
      throw new AppError(503, 'not-ready', `Not ready: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`, {
        errors,
      });
    }
    ctx.body = { status: 'ready' };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = options.registry.contentType;
    ctx.body = await options.registry.metrics();
  });
  // Without API_KEYS every route is open, and the document says so (an empty security requirement).
  const served = options.apiKeys?.length
    ? withApiKeys(options.openapi, publicRoutesOf(options))
    : { ...options.openapi, security: [] };
  router.get('/openapi.json', (ctx) => {
    ctx.body = served;
  });
  router.get('/docs', (ctx) => {
    ctx.type = 'text/html';
    ctx.body = docsPage(String((options.openapi.info as { title?: string } | undefined)?.title ?? 'API'));
  });
  router.get('/docs/init.js', (ctx) => {
    ctx.type = 'application/javascript';
    ctx.body = "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui' });\n";
  });
  router.get('/docs/:asset', (ctx) => {
    const type = docsAssets[ctx.params.asset ?? ''];
    if (!type) throw notFound(`There is no ${ctx.path} here.`);
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.body = createReadStream(join(swaggerUiDir, ctx.params.asset!));
  });
}

export interface ServiceAppOptions {
  logger: Logger;
  router: Router;
  /** The app's own Prometheus registry: request timings are added to it, /metrics serves it. */
  registry: Registry;
  /** What must answer for the service to be ready; /ready runs them all. */
  readiness: ReadinessCheck[];
  openapi: OpenApiDocument;
  /** API_KEYS: when any, every route but the public ones needs one as a bearer token. */
  apiKeys?: readonly string[];
  /** Routes of this service open to anyone even with keys, beyond health, readiness and the documents. */
  publicRoutes?: readonly PublicRoute[];
}

const publicRoutesOf = (options: ServiceAppOptions) => [...OPERATIONAL_PUBLIC_ROUTES, ...(options.publicRoutes ?? [])];

/**
 * helmet's headers on every answer. Its Content-Security-Policy allows this origin's scripts,
 * style sheets and data: images, which the status page and Swagger UI are made of (no inline
 * script anywhere). Left out: upgrade-insecure-requests and HSTS, which would send a browser to
 * https:// on a service that speaks plain HTTP; TLS, and HSTS with it, is the reverse proxy's
 * (README, Security).
 */
const securityHeaders = helmet({
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  strictTransportSecurity: false,
});

/**
 * The Koa app every service builds: logging, problems, metrics, then its routes (those that take a
 * body parse it with jsonBody()).
 */
export function createServiceApp(options: ServiceAppOptions): Koa {
  const app = new Koa();
  // Koa would print client errors to stderr itself; ours are logged once by requestLogging.
  app.silent = true;
  addOperationalRoutes(options.router, options);
  app.use(requestLogging(options.logger));
  app.use(securityHeaders);
  app.use(requestMetrics(options.registry));
  app.use(problemDetails(options.logger));
  app.use(
    requireApiKey({
      keys: options.apiKeys ?? [],
      realm: String((options.openapi.info as { title?: string } | undefined)?.title ?? 'api').toLowerCase(),
      publicRoutes: publicRoutesOf(options),
    }),
  );
  app.use(options.router.routes());
  app.use(options.router.allowedMethods());
  return app;
}

/**
 * How long a client may take, on every server (OWASP API4): the headers of a request within 10 s
 * of its first byte, the whole request within 30 s; a connection with no request in progress is
 * closed after 15 s of silence. Node checks these every `connectionsCheckingInterval`, 30 s by
 * default: here every second, so a slow or silent client is cut off within a second or two of
 * its limit. A held long poll is a request in progress (its headers came long ago), so it is
 * not cut short.
 */
export const SERVER_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 15_000,
  connectionsCheckingInterval: 1_000,
} as const;

/** Listens and resolves once the port is bound (port 0 picks a free one). */
export function listen(app: Koa, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(SERVER_TIMEOUTS, app.callback()).listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeIdleConnections();
  });
}

export function boundPort(server: Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

declare module 'koa' {
  interface Request {
    /** The parsed JSON body, set by jsonBody(); `{}` when the request had none. */
    body?: unknown;
  }
}
