import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { getJson, Platform } from '../e2e/platform.js';

// Property-based fuzzing of the three built services with fast-check: arbitrary methods, paths,
// query strings, headers and bodies (deeply nested JSON included) to every documented route and
// to paths beside them. make test runs a fixed seed; make fuzz runs longer on a fresh one.
// FUZZ_SEED replays a failure (fast-check prints the seed and the shrunk request).
const seed =
  process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? 20261127);
const numRuns = Number(process.env.FUZZ_RUNS ?? 150);
const secret = `whsec_${Buffer.alloc(24, 11).toString('base64')}`;

let platform: Platform;
beforeAll(async () => {
  // The middleware polls once at start and then not for an hour: what it stores changes only
  // through the requests sent here. Its webhook route exists (signed with `secret`).
  platform = new Platform({ pollIntervalMs: 3_600_000, logLevel: 'error' });
  platform.middleware.env.CRM_WEBHOOK_SECRET = secret;
  await platform.start();
  process.stdout.write(`fuzz: seed ${seed}, ${numRuns} requests per service (FUZZ_SEED, FUZZ_RUNS)\n`);
}, 30_000);
afterAll(async () => {
  await platform?.close();
});

interface Request {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A path segment: a number, a word, or anything at all, percent-encoded or raw (a stray % included). */
const segment = fc.oneof(
  fc.integer({ min: -5, max: 2 ** 60 }).map(String),
  fc.constantFrom(
    '0',
    '1',
    '00',
    '1e3',
    '0x10',
    '9007199254740993',
    '-0',
    '%',
    '%zz',
    '%00',
    '..',
    '.',
    '%2e%2e',
    '%2F',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }).map(encodeURIComponent),
);

const queryValue = fc.oneof(
  fc.integer({ min: -10, max: 2 ** 60 }).map(String),
  fc.constantFrom('', '0', '31', '-1', '1.5', '1e2', 'NaN', '9007199254740992', '%', '[]', 'true'),
  fc.string({ unit: 'binary', maxLength: 10 }),
);
// A valid wait would hold the request; every other value of it is fair game.
const query = fc
  .array(fc.tuple(fc.constantFrom('after', 'limit', 'wait', 'customerId', 'id', 'x', ''), queryValue), { maxLength: 4 })
  .map((pairs) => pairs.filter(([key, value]) => !(key === 'wait' && /^\s*0*([1-9]|[12]\d|30)\s*$/.test(value))))
  .map((pairs) =>
    pairs.length
      ? `?${pairs.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&')}`
      : '',
  );

const headerText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  maxLength: 40,
});
const headers = fc.record(
  {
    'content-type': fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'application/json; charset=latin1',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
        'application/problem+json',
        'application/merge-patch+json',
      ),
      headerText,
    ),
    'x-request-id': headerText,
    authorization: headerText,
    'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'nonsense'),
    'webhook-id': headerText,
    'webhook-timestamp': fc.oneof(fc.integer().map(String), headerText),
    'webhook-signature': headerText,
  },
  { requiredKeys: [] },
);

const nested = fc
  .integer({ min: 1, max: 30_000 })
  .chain((depth) =>
    fc.constantFrom(
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
      `${'['.repeat(depth)}`,
    ),
  );
const body = fc.option(
  fc.oneof(
    fc.jsonValue({ maxDepth: 6 }).map((value) => JSON.stringify(value)),
    fc
      .record(
        { name: fc.oneof(fc.string(), fc.jsonValue()), email: fc.oneof(fc.string(), fc.jsonValue()) },
        { requiredKeys: [] },
      )
      .map((value) => JSON.stringify(value)),
    fc
      .record(
        {
          customerId: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.jsonValue()),
          customerName: fc.oneof(fc.string(), fc.jsonValue()),
        },
        { requiredKeys: [] },
      )
      .map((value) => JSON.stringify(value)),
    fc
      .record(
        { url: fc.oneof(fc.webUrl({ withQueryParameters: true }), fc.string()), secret: fc.string() },
        { requiredKeys: [] },
      )
      .map((value) => JSON.stringify(value)),
    fc
      .record({ type: fc.string(), timestamp: fc.string(), data: fc.jsonValue() })
      .map((value) => JSON.stringify(value)),
    fc.string({ unit: 'binary', maxLength: 200 }),
    nested,
  ),
  { nil: undefined },
);

/** Requests to the documented routes of a service (ids and all), and to paths beside them. */
function requests(paths: Record<string, Record<string, unknown>>): fc.Arbitrary<Request> {
  const documented = Object.entries(paths).flatMap(([template, methods]) =>
    Object.keys(methods).map((method) => ({ template, method: method.toUpperCase() })),
  );
  const route = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...documented) },
    {
      weight: 1,
      arbitrary: fc.record({
        template: fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join('/')}`),
        method: fc.constant('GET'),
      }),
    },
  );
  return fc
    .record({
      route,
      method: fc.option(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'), { freq: 3 }),
      query,
      headers,
      body,
      params: fc.array(segment, { minLength: 2, maxLength: 2 }),
    })
    .map(({ route: { template, method }, method: other, query: q, headers: h, body: b, params }) => {
      let index = 0;
      const path = template.replace(/\{[^}]+\}/g, () => params[index++ % 2]!);
      const chosen = other ?? method;
      return {
        method: chosen,
        path,
        query: q,
        headers: h,
        body: chosen === 'GET' || chosen === 'OPTIONS' ? undefined : b,
      };
    });
}

/** What a service has stored, as its own API shows it. */
async function stored(base: string, lists: string[]): Promise<unknown[]> {
  return Promise.all(lists.map((path) => getJson(`${base}${path}`)));
}

const services = [
  { name: 'crm', lists: ['/customers?limit=1000', '/webhook-endpoints?limit=1000'] },
  { name: 'inventory', lists: ['/packages?limit=1000'] },
  { name: 'middleware', lists: ['/dead-letters?limit=1000'] },
] as const;

describe.each(services)('fuzzing the $name', ({ name, lists }) => {
  test('never a 5xx; every 4xx a well-formed problem that stored nothing; /health still answers', async () => {
    const base = platform[name].url;
    const document = (await getJson(`${base}/openapi.json`)) as { paths: Record<string, Record<string, unknown>> };
    const middlewareCounters = async () => {
      if (name !== 'middleware') return undefined;
      const { created, alreadyThere, deadLetters, cursor } = (await getJson(`${base}/status`)) as Record<
        string,
        number
      >;
      return { created, alreadyThere, deadLetters, cursor };
    };
    await fc.assert(
      fc.asyncProperty(requests(document.paths), async (request) => {
        const before = [await stored(base, [...lists]), await middlewareCounters()];
        const response = await fetch(`${base}${request.path}${request.query}`, {
          method: request.method,
          headers: request.headers,
          body: request.body,
        });
        const text = await response.text();
        const what = `${request.method} ${request.path}${request.query} → ${response.status}`;
        expect([what, response.status < 500]).toEqual([what, true]);
        if (response.status >= 400) {
          expect([what, response.headers.get('content-type')]).toEqual([
            what,
            expect.stringMatching(/^application\/problem\+json/),
          ]);
          const problem = JSON.parse(text) as Record<string, unknown>;
          expect(problem).toEqual(
            expect.objectContaining({
              type: expect.stringMatching(/^\/problems\/[a-z-]+$/),
              title: expect.any(String),
              status: response.status,
              detail: expect.any(String),
            }),
          );
          expect([what, await stored(base, [...lists]), await middlewareCounters()]).toEqual([what, ...before]);
        }
        expect((await fetch(`${base}/health`)).status).toBe(200);
      }),
      { seed, numRuns, endOnFailure: true },
    );
  }, 600_000);
});
