import { json, problem, problemSchema, retryAfterHeader } from './openapi-parts.js';

// A document's parts, re-exported so that `openapi.js` stays the one import for all of it.
export * from './openapi-from-zod.js';
export * from './openapi-parts.js';

/**
 * An OpenAPI 3.1 document of one service, assembled around its own operations and schemas: the
 * operational routes (health, readiness, metrics, the documents themselves), the answers every
 * operation shares (X-Request-Id, a 500, a 503 while the database cannot be reached), and the
 * shared components (the problem document, NotFound, MethodNotAllowed, InternalError).
 */
export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };

const operational = {
  '/health': {
    get: {
      tags: ['operations'],
      summary: 'Liveness: 200 while the process serves',
      operationId: 'health',
      responses: {
        '200': json('Alive', {
          type: 'object',
          required: ['status'],
          properties: { status: { const: 'ok' } },
          additionalProperties: false,
        }),
      },
    },
  },
  '/ready': {
    get: {
      tags: ['operations'],
      summary: 'Readiness: 200 when the database (and, for the middleware, both upstreams) can be reached',
      operationId: 'ready',
      responses: {
        '200': json('Ready', {
          type: 'object',
          required: ['status'],
          properties: { status: { const: 'ready' } },
          additionalProperties: false,
        }),
        '503': problem('Not ready: `errors` names what cannot be reached.', 'not-ready'),
      },
    },
  },
  '/metrics': {
    get: {
      tags: ['operations'],
      summary: 'Prometheus metrics (text exposition format)',
      operationId: 'metrics',
      responses: { '200': { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  },
  '/openapi.json': {
    get: {
      tags: ['operations'],
      summary: 'This document',
      operationId: 'openapi',
      responses: { '200': json('The OpenAPI 3.1 document', { type: 'object' }) },
    },
  },
  '/docs': {
    get: {
      tags: ['operations'],
      summary: 'Swagger UI for this document',
      operationId: 'docs',
      responses: { '200': { description: 'An HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  },
};

/** The header every answer carries: the request's id, the caller's own when it sent a sane one. */
const requestIdHeader = {
  description:
    "The request's id: the X-Request-Id the caller sent when it is 1 to 128 of letters, digits, `_ . : -`, " +
    'otherwise a new UUID. Every log line about the request carries it.',
  required: true,
  schema: { type: 'string', pattern: '^[\\w.:-]{1,128}$' },
};

/** A response with the X-Request-Id header every answer carries, before its own headers. */
export const withRequestId = (response: Record<string, unknown>, headers: Record<string, unknown> = {}) => ({
  ...response,
  headers: { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' }, ...headers },
});

type Response = { headers?: Record<string, unknown>; $ref?: string };
type Operation = Record<string, unknown> & { responses: Record<string, Response> };

/** The same paths, each operation replaced by what `change` makes of it. */
export function mapOperations(
  paths: OpenApiDocument['paths'],
  change: (operation: Operation, path: string, method: string) => Record<string, unknown>,
): OpenApiDocument['paths'] {
  return Object.fromEntries(
    Object.entries(paths).map(([path, operations]) => [
      path,
      Object.fromEntries(
        Object.entries(operations).map(([method, operation]) => [method, change(operation as Operation, path, method)]),
      ),
    ]),
  );
}

const DATABASE_UNAVAILABLE =
  'The database server cannot be reached just now (PostgreSQL, DATABASE_URL); nothing was stored. ' +
  'Send the request again after Retry-After.';

/** A 503 of the operation's own with `database-unavailable` among its problems, or that 503 alone. */
function withDatabaseUnavailable(existing: Response | undefined): Response {
  if (existing === undefined)
    return { ...problem(DATABASE_UNAVAILABLE, 'database-unavailable'), headers: { 'Retry-After': retryAfterHeader } };
  const answer = existing as Response & {
    description: string;
    content: {
      'application/problem+json': { schema: { allOf: [unknown, { properties: { type: { enum: string[] } } }] } };
    };
  };
  const schema = answer.content['application/problem+json'].schema;
  const codes = schema.allOf[1].properties.type.enum;
  if (codes.includes('/problems/database-unavailable'))
    return { ...answer, headers: { 'Retry-After': retryAfterHeader, ...answer.headers } } as Response;
  return {
    ...answer,
    description: `${answer.description} Or: ${DATABASE_UNAVAILABLE}`,
    headers: { 'Retry-After': retryAfterHeader, ...answer.headers },
    content: {
      'application/problem+json': {
        schema: {
          allOf: [
            schema.allOf[0],
            { type: 'object', properties: { type: { enum: [...codes, '/problems/database-unavailable'] } } },
          ],
        },
      },
    },
  } as Response;
}

/**
 * Every answer carries X-Request-Id, every operation may fail with a 500, every operation that
 * needs the database with a 503 while its server cannot be reached, and each response says so.
 */
function withCommonAnswers(
  paths: OpenApiDocument['paths'],
  usesDatabase: (path: string, method: string) => boolean,
): OpenApiDocument['paths'] {
  const internalError: Response = { $ref: '#/components/responses/InternalError' };
  return mapOperations(paths, ({ responses, ...rest }, path, method) => ({
    ...rest,
    responses: Object.fromEntries(
      Object.entries({
        ...responses,
        ...(usesDatabase(path, method) ? { '503': withDatabaseUnavailable(responses['503']) } : {}),
        '500': internalError,
      }).map(([status, response]) => [status, response.$ref ? response : withRequestId(response, response.headers)]),
    ),
  }));
}

export function openApiDocument(options: {
  title: string;
  description: string;
  /** The tags the operations use, each with what it groups. */
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, unknown>>;
  schemas: Record<string, unknown>;
  /** Which of the service's operations read or write its database (all, unless told otherwise). */
  usesDatabase?: (path: string, method: string) => boolean;
}): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: {
      title: options.title,
      version: '1.0.0',
      description:
        `${options.description}\n\n` +
        'Every failure is an RFC 9457 problem document (`application/problem+json`). A path asked with a method it ' +
        'does not list is answered 405 with `Allow` (components/responses/MethodNotAllowed); a path not listed here, ' +
        '404 (components/responses/NotFound).',
    },
    // Relative: "Try it out" and generated clients talk to the instance that served the document.
    servers: [{ url: '/', description: 'The service that served this document' }],
    tags: [...options.tags, { name: 'operations', description: 'Liveness, readiness, metrics and these documents.' }],
    paths: {
      ...withCommonAnswers(options.paths, options.usesDatabase ?? (() => true)),
      ...withCommonAnswers(operational, () => false),
    },
    components: {
      schemas: { ...options.schemas, Problem: problemSchema },
      headers: { 'X-Request-Id': requestIdHeader },
      responses: {
        NotFound: withRequestId(problem('No such item, or no such route.', 'not-found')),
        MethodNotAllowed: withRequestId(problem('The path exists, not with this method.', 'method-not-allowed'), {
          Allow: {
            description: 'The methods the path has, comma-separated.',
            required: true,
            schema: { type: 'string' },
          },
        }),
        InternalError: withRequestId(
          problem('Something unexpected failed; the details are in the log, not here.', 'internal-error'),
        ),
      },
    },
  };
}
