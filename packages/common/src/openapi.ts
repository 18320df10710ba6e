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
    type: { type: 'string', description: 'A URI reference naming the kind of problem, e.g. /problems/validation-failed.' },
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

export const pageParameters = [
  {
    name: 'after',
    in: 'query',
    description: 'Only items with an id greater than this (keyset paging).',
    schema: { type: 'integer', minimum: 0, default: 0 },
  },
  { name: 'limit', in: 'query', description: 'Items per page.', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
];

/** The OpenAPI face of `personName` (validation.ts): the same rule, for names and customer names. */
export const personNameSchema = {
  type: 'string',
  minLength: 1,
  description: '1 to 200 characters (Unicode code points) after trimming; stored trimmed, otherwise exactly as sent.',
  examples: ['Alice'],
};

/** The Location header of a 201: where the new item is. */
export const locationHeader = (path: string) => ({ Location: { description: `The new item: ${path}`, schema: { type: 'string' } } });

export const linkHeader = {
  Link: { description: 'RFC 8288 link to the next page, when more may follow: `</path?after=N&limit=n>; rel="next"`.', schema: { type: 'string' } },
};

export const idParameter = (description: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description,
  schema: { type: 'integer', minimum: 1 },
});

/** The standard client errors of a route that takes a JSON body. */
export const bodyProblems = {
  '400': problem('The body is malformed JSON, or a field is missing, wrong or not accepted.', 'malformed-json', 'validation-failed'),
  '413': problem('The body is larger than 64 KiB.', 'body-too-large'),
  '415': problem('The body is not application/json.', 'unsupported-media-type'),
};

/** The answers of a route that writes to the database when the database cannot take the write. */
export const storageProblems = {
  '503': problem('The database could not take the write just now (locked or an I/O error); nothing was stored. Try again.', 'storage-unavailable'),
  '507': {
    ...problem('The disk under the database is full; nothing was stored. Send the same request again later.', 'insufficient-storage'),
    headers: { 'Retry-After': { description: 'Seconds to wait before sending it again.', schema: { type: 'integer', minimum: 1 } } },
  },
};

const operational = {
  '/health': {
    get: {
      tags: ['operations'],
      summary: 'Liveness: 200 while the process serves',
      operationId: 'health',
      responses: {
        '200': json('Alive', { type: 'object', required: ['status'], properties: { status: { const: 'ok' } }, additionalProperties: false }),
      },
    },
  },
  '/ready': {
    get: {
      tags: ['operations'],
      summary: 'Readiness: 200 when the database (and, for the middleware, both upstreams) can be reached',
      operationId: 'ready',
      responses: {
        '200': json('Ready', { type: 'object', required: ['status'], properties: { status: { const: 'ready' } }, additionalProperties: false }),
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

export function openApiDocument(options: {
  title: string;
  description: string;
  port: number;
  paths: Record<string, Record<string, unknown>>;
  schemas: Record<string, unknown>;
}): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: { title: options.title, version: '1.0.0', description: options.description },
    servers: [{ url: `http://localhost:${options.port}` }],
    paths: { ...options.paths, ...operational },
    components: {
      schemas: { ...options.schemas, Problem: problemSchema },
      responses: {
        NotFound: problem('No such route.', 'not-found'),
        MethodNotAllowed: problem('The route exists, not with this method; the Allow header lists those it has.', 'method-not-allowed'),
        InternalError: problem('Something unexpected failed; the details are in the log, not here.', 'internal-error'),
      },
    },
  };
}
