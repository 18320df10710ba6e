import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Router from '@koa/router';
import type { Registry } from 'prom-client';
import { OPERATIONAL_PUBLIC_ROUTES, withApiKeys, type PublicRoute } from './access.js';
import { AppError, notFound, type FieldError } from './errors.js';
import type { OpenApiDocument } from './openapi.js';
import type { ServiceDatabase } from './service-database.js';

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

export interface OperationalRoutesOptions {
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

/** The routes open to anyone even when API keys are asked for. */
export const publicRoutesOf = (options: OperationalRoutesOptions) => [
  ...OPERATIONAL_PUBLIC_ROUTES,
  ...(options.publicRoutes ?? []),
];

/**
 * The routes every service has: liveness, readiness, Prometheus metrics, its OpenAPI document
 * and a Swagger UI served from the swagger-ui-dist package (no CDN).
 */
export function addOperationalRoutes(router: Router, options: OperationalRoutesOptions): void {
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
