import { describe, expect, test } from '@jest/globals';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { json, openApiDocument, personNameSchema, storageProblems } from '../src/openapi.js';
import { personName } from '../src/validation.js';

describe('the documents say what the code enforces', () => {
  const documented = new Ajv2020({ strict: false }).compile(personNameSchema);
  const samples = [
    'Alice',
    'a',
    ' a ',
    '',
    ' ',
    '\t\n \u00a0\ufeff',
    'x'.repeat(200),
    'x'.repeat(201),
    `  ${'x'.repeat(200)}  `,
    `\n${'x'.repeat(199)}\t`,
    '😀'.repeat(200),
    '😀'.repeat(201),
    `Ann ${'\u2003'.repeat(300)} Lee`,
    'Zoë\u0000',
  ];

  test.each(samples.map((sample) => [JSON.stringify(sample).slice(0, 40), sample]))(
    'a name %s: the document and the code agree',
    (_, sample) => {
      expect(documented(sample)).toBe(personName.safeParse(sample).success);
    },
  );
});

describe('an unreachable database server in the documents', () => {
  const document = openApiDocument({
    title: 't',
    description: 'd',
    tags: [],
    schemas: {},
    paths: {
      '/things': {
        get: { responses: { '200': json('Things', { type: 'array' }) } },
        post: { responses: { '201': json('Made', { type: 'object' }), ...storageProblems } },
      },
      '/page': { get: { responses: { '200': json('A page', { type: 'string' }) } } },
    },
    usesDatabase: (path) => path !== '/page',
  });
  /** A problem answer as the document gives it: its headers, and the problem types it may be. */
  type ProblemAnswer = {
    headers: Record<string, { required?: boolean }>;
    content: {
      'application/problem+json': { schema: { allOf: [unknown, { properties: { type: { enum: string[] } } }] } };
    };
  };
  const answers = (path: string, method: string) =>
    (document.paths[path] as Record<string, { responses: Record<string, ProblemAnswer> }>)[method]!.responses;
  const codesOf = (response: ProblemAnswer | undefined): string[] =>
    response!.content['application/problem+json'].schema.allOf[1].properties.type.enum;

  test('every operation that needs the database may answer 503 database-unavailable, with Retry-After', () => {
    expect(codesOf(answers('/things', 'get')['503'])).toEqual(['/problems/database-unavailable']);
    expect(answers('/things', 'get')['503']!.headers['Retry-After']!.required).toBe(true);
    expect(codesOf(answers('/things', 'post')['503'])).toEqual([
      '/problems/storage-unavailable',
      '/problems/database-unavailable',
    ]);
  });

  test('one that does not, and the operational routes, do not say so', () => {
    expect(answers('/page', 'get')['503']).toBeUndefined();
    expect(answers('/health', 'get')['503']).toBeUndefined();
    expect(codesOf(answers('/ready', 'get')['503'])).toEqual(['/problems/not-ready']);
  });
});
