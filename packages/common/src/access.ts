import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { AppError } from './errors.js';
import { mapOperations, problem, withRequestId, type OpenApiDocument } from './openapi.js';

/** A route open to anyone even when the service has API keys. A path ending in `/*` covers what is under it. */
export interface PublicRoute {
  method: string;
  path: string;
}

/** Open on every service: liveness, readiness, the API document and Swagger UI. */
export const OPERATIONAL_PUBLIC_ROUTES: readonly PublicRoute[] = [
  { method: 'GET', path: '/health' },
  { method: 'GET', path: '/ready' },
  { method: 'GET', path: '/openapi.json' },
  { method: 'GET', path: '/docs' },
  { method: 'GET', path: '/docs/*' },
];

export function isPublicRoute(routes: readonly PublicRoute[], method: string, path: string): boolean {
  const asked = method === 'HEAD' ? 'GET' : method;
  return routes.some(
    (route) =>
      route.method === asked &&
      (route.path.endsWith('/*') ? path.startsWith(route.path.slice(0, -1)) : path === route.path),
  );
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Whether `given` is one of `keys`, in time that does not depend on how much of it matches: each
 * key is compared in full, as a SHA-256 digest of fixed length, and every key is tried.
 */
export function isApiKey(keys: readonly string[], given: string): boolean {
  return matchingKey(keys, given) !== undefined;
}

/** The key of `keys` that `given` is, compared as isApiKey does; undefined for none. */
function matchingKey(keys: readonly string[], given: string): string | undefined {
  const asked = digest(given);
  let found: string | undefined;
  for (const key of keys) if (timingSafeEqual(digest(key), asked)) found = key;
  return found;
}

/**
 * The name a key goes by where something must say who did it (a pause, in the log and /status):
 * `key-` and the first 8 hex digits of its SHA-256, which tells the keys apart without showing any
 * of them (`printf %s "$KEY" | sha256sum | cut -c1-8` gives it for a key).
 */
export const apiKeyName = (key: string): string => `key-${digest(key).toString('hex').slice(0, 8)}`;

/**
 * API keys (API_KEYS): with none, every route is open; with some, every route but the public ones
 * needs `Authorization: Bearer <key>`, else a 401 problem with `WWW-Authenticate`. The key is
 * never echoed, in the answer or in the log; the request's `ctx.state.apiKeyName` names it.
 */
export function requireApiKey(options: {
  keys: readonly string[];
  realm: string;
  publicRoutes: readonly PublicRoute[];
}): Middleware {
  const challenge = { 'WWW-Authenticate': `Bearer realm="${options.realm}"` };
  return async (ctx, next) => {
    if (options.keys.length === 0 || isPublicRoute(options.publicRoutes, ctx.method, ctx.path)) return next();
    const match = /^Bearer +(\S+) *$/i.exec(ctx.get('Authorization'));
    if (!match) {
      throw new AppError(401, 'unauthorized', 'This route needs an API key: send `Authorization: Bearer <key>`.', {
        headers: challenge,
      });
    }
    const key = matchingKey(options.keys, match[1]!);
    if (key === undefined) {
      throw new AppError(401, 'unauthorized', 'The API key sent is not one of this service’s.', {
        headers: { ...challenge, 'WWW-Authenticate': `${challenge['WWW-Authenticate']}, error="invalid_token"` },
      });
    }
    ctx.state.apiKeyName = apiKeyName(key);
    return next();
  };
}

/**
 * The document as served when the service has API keys: the bearer scheme, required at the top,
 * lifted (`security: []`) on the public routes, and a 401 on every other operation.
 */
export function withApiKeys(document: OpenApiDocument, publicRoutes: readonly PublicRoute[]): OpenApiDocument {
  const unauthorized = { $ref: '#/components/responses/Unauthorized' };
  const paths = mapOperations(document.paths, (operation, path, method) =>
    isPublicRoute(publicRoutes, method.toUpperCase(), path)
      ? { ...operation, security: [] }
      : { ...operation, responses: { ...operation.responses, '401': unauthorized } },
  );
  const components = document.components as Record<string, Record<string, unknown>>;
  return {
    ...document,
    security: [{ apiKey: [] }],
    paths,
    components: {
      ...components,
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'One of the keys in the service’s API_KEYS, as `Authorization: Bearer <key>`.',
        },
      },
      responses: {
        ...components.responses,
        Unauthorized: withRequestId(problem('No API key was sent, or not one of this service’s.', 'unauthorized'), {
          'WWW-Authenticate': {
            description: '`Bearer realm="<service>"`, with `error="invalid_token"` for a wrong key.',
            required: true,
            schema: { type: 'string' },
          },
        }),
      },
    },
  };
}
