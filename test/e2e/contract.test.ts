import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { waitFor } from '../support/servers.js';
import { call, ContractChecker, type Observed } from './contract.js';
import { Webhook } from 'standardwebhooks';
import { getJson, Platform } from './platform.js';

const secret = `whsec_${Buffer.alloc(24, 5).toString('base64')}`;
let platform: Platform;
beforeAll(async () => {
  platform = await new Platform({ webhookSecret: secret }).start();
});
afterAll(async () => {
  await platform.close();
});

const big = { name: 'x'.repeat(70 * 1024), email: 'big@example.com' };
const form = { type: 'text/plain', data: 'name=Alice' };
const malformed = { type: 'application/json', data: '{"name": ' };

/** The client errors every route that takes a JSON body documents: malformed JSON, too large, not JSON. */
const bodyErrors = (base: string, path: string) => [
  () => call(base, 'POST', path, undefined, malformed),
  () => call(base, 'POST', path, { padding: 'x'.repeat(70 * 1024) }),
  () => call(base, 'POST', path, undefined, form),
];

/**
 * Every documented path asked with a method it does not list (405 with Allow), and a path the
 * document does not have (404): both held to the document's shared answers.
 */
async function strayRequests(base: string): Promise<Array<() => Promise<Observed>>> {
  const document = (await getJson(`${base}/openapi.json`)) as { paths: Record<string, unknown> };
  return [
    ...Object.keys(document.paths).map((template) => () => call(base, 'PATCH', template.replace(/\{[^}]+\}/g, '1'))),
    () => call(base, 'GET', '/no/such/route'),
  ];
}

async function holdsTo(base: string, calls: Array<() => Promise<Observed>>): Promise<ContractChecker> {
  const checker = new ContractChecker(await getJson(`${base}/openapi.json`));
  const problems: string[] = [];
  for (const send of [...calls, ...(await strayRequests(base))]) problems.push(...checker.check(await send()));
  expect(problems).toEqual([]);
  return checker;
}

const operational = (base: string) => [
  () => call(base, 'GET', '/health'),
  () => call(base, 'GET', '/ready'),
  () => call(base, 'GET', '/metrics'),
  () => call(base, 'GET', '/openapi.json'),
  () => call(base, 'GET', '/docs'),
];

describe('real responses match the OpenAPI documents, and every documented route is exercised', () => {
  test('CRM', async () => {
    const crm = platform.crm.url;
    const checker = await holdsTo(crm, [
      // Endpoint 1 is the middleware (WEBHOOK_URL); endpoint 2 a subscriber that never answers.
      () => call(crm, 'POST', '/webhook-endpoints', { url: 'http://127.0.0.1:9/hook' }),
      () => call(crm, 'POST', '/webhook-endpoints', { url: 'ftp://example.com/hook' }),
      ...bodyErrors(crm, '/webhook-endpoints'),
      () => call(crm, 'POST', '/customers', { name: 'Alice', email: 'alice@example.com' }),
      () => call(crm, 'POST', '/customers', { name: 'Bob', email: 'bob@example.com' }),
      () => call(crm, 'POST', '/customers', { name: 'Alice again', email: 'ALICE@example.com' }),
      () => call(crm, 'POST', '/customers', { name: '', email: 'nope', id: 3 }),
      () => call(crm, 'POST', '/customers', big),
      ...bodyErrors(crm, '/customers'),
      () => call(crm, 'GET', '/customers?limit=1'),
      () => call(crm, 'GET', '/customers?limit=0'),
      () => call(crm, 'GET', '/customers/1'),
      () => call(crm, 'GET', '/customers/999'),
      () => call(crm, 'GET', '/customers/abc'),
      () => call(crm, 'GET', '/customers?after=2&wait=1'),
      () => call(crm, 'GET', '/customers?wait=31'),
      () => call(crm, 'GET', '/webhook-endpoints?limit=1'),
      () => call(crm, 'GET', '/webhook-endpoints?limit=0'),
      () => call(crm, 'GET', '/webhook-endpoints/1'),
      () => call(crm, 'GET', '/webhook-endpoints/999'),
      () => call(crm, 'GET', '/webhook-endpoints/x'),
      () => call(crm, 'PATCH', '/webhook-endpoints/2', { enabled: false }),
      () => call(crm, 'GET', '/webhook-endpoints/2'),
      () => call(crm, 'PATCH', '/webhook-endpoints/2', { enabled: true }),
      () => call(crm, 'PATCH', '/webhook-endpoints/2', { enabled: 'yes' }),
      () => call(crm, 'PATCH', '/webhook-endpoints/999', { enabled: true }),
      () => call(crm, 'GET', '/webhook-endpoints/2/messages'),
      () => call(crm, 'GET', '/webhook-endpoints/2/messages?limit=0'),
      () => call(crm, 'GET', '/webhook-endpoints/999/messages'),
      () => call(crm, 'POST', '/webhook-endpoints/2/messages/2/retry'),
      () => call(crm, 'POST', '/webhook-endpoints/2/messages/999/retry'),
      () => call(crm, 'POST', '/webhook-endpoints/2/messages/x/retry'),
      () => call(crm, 'DELETE', '/webhook-endpoints/2'),
      () => call(crm, 'DELETE', '/webhook-endpoints/2'),
      () => call(crm, 'DELETE', '/webhook-endpoints/x'),
      ...operational(crm),
    ]);
    await waitFor(
      'the message to the middleware',
      async () => (await getJson(`${crm}/webhook-endpoints/1/messages`))[0]?.status === 'delivered',
    );
    expect(checker.check(await call(crm, 'POST', '/webhook-endpoints/1/messages/1/retry'))).toEqual([]);
    expect(checker.uncovered()).toEqual([]);
  });

  test('Inventory', async () => {
    const inventory = platform.inventory.url;
    const checker = await holdsTo(inventory, [
      () => call(inventory, 'POST', '/packages', { customerId: 500, customerName: 'Zed' }),
      () => call(inventory, 'POST', '/packages', { customerId: 500, customerName: 'Zed' }),
      () => call(inventory, 'POST', '/packages', { customerId: 500, customerName: 'Other' }),
      () => call(inventory, 'POST', '/packages', { customerId: 'x' }),
      ...bodyErrors(inventory, '/packages'),
      () => call(inventory, 'GET', '/packages?limit=1'),
      () => call(inventory, 'GET', '/packages?customerId=500'),
      () => call(inventory, 'GET', '/packages?customerId=0'),
      () => call(inventory, 'GET', '/packages?orderBy=customerId&limit=1'),
      () => call(inventory, 'GET', '/packages?orderBy=name'),
      () => call(inventory, 'GET', '/packages/1'),
      () => call(inventory, 'GET', '/packages/99999'),
      () => call(inventory, 'GET', '/packages/x'),
      ...operational(inventory),
    ]);
    expect(checker.uncovered()).toEqual([]);
  });

  test('middleware', async () => {
    const { crm, inventory, middleware } = platform;
    // A customer whose package already exists under another name becomes a dead letter.
    const next = ((await getJson(`${crm.url}/customers?limit=1000`)) as Array<{ id: number }>).length + 1;
    await call(inventory.url, 'POST', '/packages', { customerId: next, customerName: 'Mallory' });
    await call(crm.url, 'POST', '/customers', { name: 'Carol', email: 'carol@example.com' });
    await waitFor('a dead letter', async () => (await getJson(`${middleware.url}/status`)).deadLetters > 0);

    const base = middleware.url;
    const event = (at: Date) => {
      const data = JSON.stringify({
        type: 'customer.created',
        timestamp: at.toISOString(),
        data: { id: 1, name: 'Alice' },
      });
      const id = `msg_contract_${at.getTime()}`;
      return {
        type: 'application/json',
        data,
        headers: {
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': new Webhook(secret).sign(id, at, data),
        },
      };
    };
    const checker = await holdsTo(base, [
      () => call(base, 'POST', '/webhooks/crm', undefined, event(new Date())),
      () => call(base, 'POST', '/webhooks/crm', undefined, event(new Date(Date.now() - 3_600_000))),
      () => call(base, 'POST', '/webhooks/crm', undefined, { type: 'application/json', data: '{}' }),
      () => call(base, 'POST', '/webhooks/crm', { padding: 'x'.repeat(70 * 1024) }),
      () => call(base, 'GET', '/'),
      () => call(base, 'GET', '/status'),
      () => call(base, 'GET', '/dead-letters'),
      () => call(base, 'GET', '/dead-letters?limit=0'),
      () => call(base, 'POST', '/dead-letters/1/replay'),
      () => call(base, 'POST', '/dead-letters/999/replay'),
      // The replays take no body: one sent, even malformed, is ignored.
      () => call(base, 'POST', '/dead-letters/999/replay', undefined, malformed),
      () => call(base, 'POST', '/dead-letters/replay', undefined, form),
      () => call(base, 'POST', '/dead-letters/x/replay'),
      () => call(base, 'POST', '/dead-letters/replay'),
      () => call(base, 'GET', '/reconciliations/latest'),
      () => call(base, 'POST', '/reconciliations', { repair: false }),
      () => call(base, 'POST', '/reconciliations', { repair: false }),
      () => call(base, 'POST', '/reconciliations', { fromId: 0, toId: 'x', extra: 1 }),
      () => call(base, 'POST', '/reconciliations', { fromId: 100_000 }),
      () => call(base, 'POST', '/reconciliations', undefined, malformed),
      () => call(base, 'GET', '/reconciliations?limit=1'),
      () => call(base, 'GET', '/reconciliations/latest'),
      () => call(base, 'GET', '/reconciliations/1'),
      () => call(base, 'GET', '/reconciliations/999'),
      () => call(base, 'GET', '/reconciliations/x'),
      () => call(base, 'GET', '/customers/1/journey'),
      () => call(base, 'GET', '/customers/999999/journey'),
      () => call(base, 'GET', '/customers/x/journey'),
      () => call(base, 'GET', '/journeys?customerId=1'),
      () => call(base, 'GET', '/journeys?customerId=999999'),
      () => call(base, 'GET', '/journeys'),
      () => call(base, 'GET', '/delivery'),
      () => call(base, 'POST', '/delivery/pause', { reason: 'Inventory maintenance' }),
      () => call(base, 'GET', '/status'),
      // While paused, a webhook is taken and its customer waits.
      () => call(base, 'POST', '/webhooks/crm', undefined, event(new Date(Date.now() + 1))),
      () => call(base, 'POST', '/delivery/pause', { until: '2020-01-01T00:00:00Z', by: 'me' }),
      () => call(base, 'POST', '/delivery/pause', undefined, malformed),
      () => call(base, 'POST', '/delivery/resume'),
      () => call(base, 'POST', '/dead-letters/1/replay'),
      ...operational(base),
    ]);
    expect(checker.uncovered()).toEqual([]);

    await inventory.kill();
    try {
      const problems = [
        ...checker.check(await call(base, 'POST', '/dead-letters/1/replay')),
        ...checker.check(await call(base, 'GET', '/ready')),
      ];
      expect(problems).toEqual([]);
      // An outage shows once the Inventory is needed: a new customer needs it.
      await call(crm.url, 'POST', '/customers', { name: 'Dave', email: 'dave@example.com' });
      await waitFor('the outage to show', async () => (await getJson(`${base}/status`)).outage !== null);
      expect(checker.check(await call(base, 'GET', '/status'))).toEqual([]);
    } finally {
      await inventory.start();
    }
  });
});

describe('the contract checker itself', () => {
  const problemContent = { 'application/problem+json': { schema: { type: 'object', required: ['status'] } } };
  const document = {
    paths: {
      '/things/{id}': {
        get: {
          responses: {
            '200': {
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } },
              headers: {
                'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
                'Retry-After': { schema: { type: 'integer', minimum: 1 } },
              },
            },
            '404': { $ref: '#/components/responses/NotFound' },
          },
        },
      },
      '/other': {
        get: { responses: { '200': { content: { 'text/plain': {} } } } },
        post: { responses: { '204': { description: 'Done' } } },
      },
    },
    components: {
      schemas: {
        Thing: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'integer' } },
          additionalProperties: false,
        },
      },
      headers: { 'X-Request-Id': { required: true, schema: { type: 'string' } } },
      responses: {
        NotFound: { description: 'None', content: problemContent },
        MethodNotAllowed: {
          description: 'Not this method',
          content: problemContent,
          headers: { Allow: { required: true, schema: { type: 'string' } } },
        },
      },
    },
  };
  const ok = {
    method: 'GET',
    path: '/things/1',
    status: 200,
    contentType: 'application/json; charset=utf-8',
    body: { id: 1 },
    headers: { 'x-request-id': 'abc' },
  };
  const stray = {
    method: 'PUT',
    path: '/other',
    status: 405,
    contentType: 'application/problem+json',
    body: { status: 405 },
    headers: { allow: 'GET, HEAD, POST' },
  };

  test('accepts a documented response and counts its route as exercised', () => {
    const checker = new ContractChecker(document);
    expect(checker.check(ok)).toEqual([]);
    expect(
      checker.check({ ...ok, status: 404, contentType: 'application/problem+json', body: { status: 404 } }),
    ).toEqual([]);
    expect(checker.uncovered()).toEqual(['GET /other', 'POST /other']);
  });

  test(
    'accepts a 405 naming exactly the methods of the path, ' +
      'and a 404 for a route it does not list, as the shared answers say',
    () => {
      const checker = new ContractChecker(document);
      expect(checker.check(stray)).toEqual([]);
      expect(checker.check({ ...stray, path: '/nowhere', status: 404, body: { status: 404 } })).toEqual([]);
    },
  );

  test.each([
    [
      'a body off the schema',
      { ...ok, body: { id: 'one', extra: true } },
      /must be integer|must NOT have additional properties/,
    ],
    ['an undocumented status', { ...ok, status: 500 }, /status not documented/],
    ['an undocumented content type', { ...ok, contentType: 'text/html' }, /content type text\/html not documented/],
    ['an undocumented route', { ...ok, path: '/nowhere' }, /no documented route/],
    ['an undocumented method', { ...ok, method: 'DELETE' }, /method not documented/],
    ['a required header missing', { ...ok, headers: {} }, /required header X-Request-Id missing/],
    ['a header off its schema', { ...ok, headers: { ...ok.headers, 'retry-after': '0' } }, /header Retry-After "0"/],
    [
      "a 405 whose Allow is not the path's methods",
      { ...stray, headers: { allow: 'GET, HEAD' } },
      /Allow is "GET, HEAD", not get, head, post/,
    ],
    ['a 405 without Allow', { ...stray, headers: {} }, /required header Allow missing/],
    [
      'a 405 that is not a problem document',
      { ...stray, contentType: 'text/plain', body: 'no' },
      /content type text\/plain not documented/,
    ],
  ])('reports %s', (_, observed, problem) => {
    expect(new ContractChecker(document).check(observed)).toEqual(
      expect.arrayContaining([expect.stringMatching(problem)]),
    );
  });
});
