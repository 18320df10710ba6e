/**
 * What the operations of every service's OpenAPI document are made of: the problem document and
 * the answers that carry it, JSON answers, paging and ids, and the headers of a new item, a page
 * and a Retry-After. The document around them is assembled by openapi.ts.
 */

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
