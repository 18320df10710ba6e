import { createServer, type Server } from 'node:http';
import Koa from 'koa';
import helmet from 'koa-helmet';
import type Router from '@koa/router';
import { requireApiKey } from './access.js';
import type { Logger } from './logger.js';
import { requestMetrics } from './metrics.js';
import { addOperationalRoutes, publicRoutesOf, type OperationalRoutesOptions } from './operational-routes.js';
import { problemDetails } from './problem-details.js';
import { requestLogging } from './request-logging.js';

export interface ServiceAppOptions extends OperationalRoutesOptions {
  logger: Logger;
  router: Router;
}

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
