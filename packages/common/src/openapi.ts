import { z } from 'zod';
import { personName } from './validation.js';

/**
 * The parts of the OpenAPI 3.1 documents that every service shares: the problem document, paging,
 * and the operational routes (health, readiness, metrics, the documents themselves).
 */
export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };

export const problemSchema = {
  type: 'object',
  description: 'RFC 9457 Problem Details.',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: {
      type: 'string',
      description: 'A URI reference naming the kind of problem, e.g. /problems/validation-failed.',
    },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
};

/** A response whose body is a problem document of one of the given types (codes, as in /problems/<code>). */
export function problem(description: string, ...codes: string[]) {
  const schema = {
    allOf: [
      { $ref: '#/components/schemas/Problem' },
      { type: 'object', properties: { type: { enum: codes.map((code) => `/problems/${code}`) } } },
    ],
  };
  return { description, content: { 'application/problem+json': { schema } } };
}

/** A JSON response. */
export function json(description: string, schema: unknown, headers?: Record<string, unknown>) {
  return { description, ...(headers ? { headers } : {}), content: { 'application/json': { schema } } };
}

/** The largest id any service accepts: ids are JSON numbers, exact up to 2^53 - 1. */
export const MAX_ID = Number.MAX_SAFE_INTEGER;

/** `after` of a keyset-paged list, described by what its key is. */
export const afterParameter = (description: string) => ({
  name: 'after',
  in: 'query',
  description,
  schema: { type: 'integer', minimum: 0, maximum: MAX_ID, default: 0 },
});

export const limitParameter = {
  name: 'limit',
  in: 'query',
  description: 'Items per page.',
  schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
};

export const pageParameters = [
  afterParameter('Only items with an id greater than this (keyset paging).'),
  limitParameter,
];

/**
 * A request body's schema for the OpenAPI documents, made from the zod schema that validates it
 * (its input side: what a client sends), so that a rule is written once. What a refinement checks
 * is told by the schema's `.meta()`.
 */
export function schemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return jsonSchema;
}

/**
 * The components of an OpenAPI document, by name, made from zod schemas: what a client sends
 * (`input`) or what a service answers (`output`, the default). A schema named here and used inside
 * another is a `$ref` to its component; one not named is written out where it is used.
 */
export function componentSchemas(
  named: Record<string, z.ZodType>,
  io: 'input' | 'output' = 'output',
): Record<string, Record<string, unknown>> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _dialect, $id: _id, ...schema }]) => [id, schema]),
  );
}

/** The OpenAPI face of `personName` (validation.ts): the same rule, for names and customer names. */
export const personNameSchema = schemaOf(personName);

/** The Location header of a 201: where the new item is. */
export const locationHeader = (path: string) => ({
  Location: { description: `The new item: ${path}`, required: true, schema: { type: 'string' } },
});

export const linkHeader = {
  Link: {
    description: 'RFC 8288 link to the next page, when more may follow: `</path?after=N&limit=n>; rel="next"`.',
    schema: { type: 'string' },
  },
};

export const idParameter = (description: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description,
  schema: { type: 'integer', minimum: 1, maximum: MAX_ID },
});

/** A 404 for an item that is not there: the shared NotFound answer, described for the operation. */
export const notFoundAnswer = (description: string) => ({ $ref: '#/components/responses/NotFound', description });

/** The standard client errors of a route that takes a JSON body. */
export const bodyProblems = {
  '400': problem(
    'The body is malformed JSON, or compressed (Content-Encoding) and not decompressible, or a field is missing, ' +
      'wrong or not accepted.',
    'malformed-json',
    'malformed-body',
    'validation-failed',
  ),
  '413': problem('The body is larger than 64 KiB.', 'body-too-large'),
  '415': problem('The body is not application/json.', 'unsupported-media-type'),
};

/** The Retry-After of a 503 or 507: when to send the same request again. */
export const retryAfterHeader = {
  description: 'Seconds to wait before sending the request again.',
  required: true,
  schema: { type: 'integer', minimum: 1 },
};

/** The answers of a route that writes to the database when the database cannot take the write. */
export const storageProblems = {
  '503': {
    ...problem(
      'The database could not take the write just now (SQLite: locked or an I/O error); nothing was stored. Try again.',
      'storage-unavailable',
    ),
    headers: { 'Retry-After': retryAfterHeader },
  },
  '507': {
    ...problem(
      'The disk under the database is full; nothing was stored. Send the same request again later.',
      'insufficient-storage',
    ),
    headers: {
      'Retry-After': {
        description: 'Seconds to wait before sending it again.',
        required: true,
        schema: { type: 'integer', minimum: 1 },
      },
    },
  },
};

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
