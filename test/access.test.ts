import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger, isApiKey } from '@welcome/common';
import { createCrm } from '../crm/src/app.js';
import { crmSchema } from '../crm/src/store/schema.js';
import { createApp as createInventory } from '../inventory/src/app.js';
import { inventorySchema } from '../inventory/src/store/schema.js';
import { createApp as createMiddleware } from '../middleware/src/app.js';
import { middlewareSchema } from '../middleware/src/store/schema.js';
import { wireMiddleware } from '../middleware/src/wiring.js';
import { ContractChecker } from './e2e/contract.js';
import { sqliteAt } from './support/databases.js';

const keys = ['first-key-0123456789abcdef', 'second-key-0123456789abcdef'];
const unreachable = 'http://127.0.0.1:9';

const services = [
  {
    name: 'crm',
    build: (apiKeys: string[]) =>
      createCrm({ database: sqliteAt(crmSchema), logger: createSilentLogger(), apiKeys }).app,
    read: '/customers',
    write: { path: '/customers', body: { name: 'Alice', email: 'alice@example.com' } },
    publicPaths: ['/health', '/ready', '/openapi.json', '/docs', '/docs/swagger-ui.css'],
  },
  {
    name: 'inventory',
    build: (apiKeys: string[]) =>
      createInventory({ database: sqliteAt(inventorySchema), logger: createSilentLogger(), apiKeys }),
    read: '/packages',
    write: { path: '/packages', body: { customerId: 1, customerName: 'Alice' } },
    publicPaths: ['/health', '/ready', '/openapi.json', '/docs'],
  },
  {
    name: 'middleware',
    build: (apiKeys: string[]) =>
      createMiddleware(
        wireMiddleware({
          database: sqliteAt(middlewareSchema),
          logger: createSilentLogger(),
          crmUrl: unreachable,
          inventoryUrl: unreachable,
          timeoutMs: 500,
          retryDelayMs: 0,
          apiKeys,
        }),
      ),
    read: '/status',
    write: { path: '/dead-letters/replay', body: undefined },
    publicPaths: [
      '/health',
      '/ready',
      '/openapi.json',
      '/docs',
      '/',
      '/assets/status-page.js',
      '/assets/status-page.css',
    ],
  },
];

describe.each(services)('$name: API keys', ({ name, build, read, write, publicPaths }) => {
  test('without API_KEYS every route is open', async () => {
    const http = request(build([]).callback());
    expect((await http.get(read)).status).toBe(200);
  });

  test(
    'with API_KEYS a route needs one: none or a wrong one is a 401 problem with WWW-Authenticate, ' +
      'either key of a rotation is let in',
    async () => {
      const http = request(build(keys).callback());
      const none = await http.get(read);
      expect(none.status).toBe(401);
      expect(none.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(none.headers['www-authenticate']).toBe(`Bearer realm="${name}"`);
      expect(none.body).toMatchObject({ type: '/problems/unauthorized', status: 401 });

      const wrong = await http.get(read).set('Authorization', `Bearer ${keys[0]}x`);
      expect(wrong.status).toBe(401);
      expect(wrong.headers['www-authenticate']).toBe(`Bearer realm="${name}", error="invalid_token"`);
      expect(JSON.stringify(wrong.body)).not.toContain(keys[0]);
      expect((await http.get(read).set('Authorization', `Basic ${keys[0]}`)).status).toBe(401);

      for (const key of keys) expect((await http.get(read).set('Authorization', `Bearer ${key}`)).status).toBe(200);
    },
  );

  test('a write refused for want of a key changes nothing', async () => {
    const http = request(build(keys).callback());
    const send = () =>
      http
        .post(write.path)
        .set('Content-Type', 'application/json')
        .send(JSON.stringify(write.body ?? {}));
    expect((await send()).status).toBe(401);
    expect((await http.get(read).set('Authorization', `Bearer ${keys[1]}`)).body).toEqual(
      name === 'middleware' ? expect.objectContaining({ created: 0 }) : [],
    );
  });

  test('health, readiness, the documents and Swagger UI (and the status page) stay open', async () => {
    const http = request(build(keys).callback());
    for (const path of publicPaths) expect([path, (await http.get(path)).status]).not.toEqual([path, 401]);
  });

  test(
    'the document served says so: a bearer scheme, required everywhere but on the open routes, ' +
      'and a 401 where it is',
    async () => {
      const open = (await request(build([]).callback()).get('/openapi.json')).body;
      // Without keys every route is open, and the document says so.
      expect(open.security).toEqual([]);
      expect(open.components.securitySchemes).toBeUndefined();

      const secured = (await request(build(keys).callback()).get('/openapi.json')).body;
      expect(secured.components.securitySchemes).toEqual({
        apiKey: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      });
      expect(secured.security).toEqual([{ apiKey: [] }]);
      expect(secured.paths[read].get.responses['401']).toEqual({ $ref: '#/components/responses/Unauthorized' });
      expect(secured.paths['/health'].get.security).toEqual([]);
      expect(secured.paths['/health'].get.responses['401']).toBeUndefined();
    },
  );

  test('the 401 matches the document served, WWW-Authenticate included', async () => {
    const http = request(build(keys).callback());
    const checker = new ContractChecker((await http.get('/openapi.json')).body);
    for (const key of [undefined, 'not-a-key-at-all-0123456789']) {
      const response = key ? await http.get(read).set('Authorization', `Bearer ${key}`) : await http.get(read);
      const observed = {
        method: 'GET',
        path: read,
        status: response.status,
        contentType: response.headers['content-type'] ?? '',
        body: response.body,
        headers: response.headers as Record<string, string>,
      };
      expect(checker.check(observed)).toEqual([]);
      expect(
        checker.check({
          ...observed,
          headers: { ...observed.headers, 'www-authenticate': undefined as unknown as string },
        }),
      ).toEqual([expect.stringMatching(/required header WWW-Authenticate missing/)]);
    }
  });
});

test('the middleware: a webhook needs its signature, not a key', async () => {
  const deps = wireMiddleware({
    database: sqliteAt(middlewareSchema),
    logger: createSilentLogger(),
    crmUrl: unreachable,
    inventoryUrl: unreachable,
    timeoutMs: 500,
    retryDelayMs: 0,
    apiKeys: keys,
    webhookSecret: `whsec_${Buffer.alloc(24, 3).toString('base64')}`,
  });
  const response = await request(createMiddleware(deps).callback())
    .post('/webhooks/crm')
    .set('Content-Type', 'application/json')
    .send('{}');
  expect(response.status).toBe(401);
  expect(response.body.type).toBe('/problems/invalid-signature');
});

describe('isApiKey', () => {
  test('accepts each key whole, and nothing else: not a prefix, not a longer string, not an empty one', () => {
    for (const key of keys) expect(isApiKey(keys, key)).toBe(true);
    for (const other of ['', keys[0]!.slice(0, -1), `${keys[0]}x`, keys[0]!.toUpperCase(), keys.join(',')])
      expect(isApiKey(keys, other)).toBe(false);
    expect(isApiKey([], keys[0]!)).toBe(false);
  });
});
