import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger } from '@welcome/common';
import { createApp as createCrm } from '../crm/src/app.js';
import { crmSchema } from '../crm/src/store/schema.js';
import { createApp as createInventory } from '../inventory/src/app.js';
import { inventorySchema } from '../inventory/src/store/schema.js';
import { createApp as createMiddleware } from '../middleware/src/app.js';
import { middlewareSchema } from '../middleware/src/store/schema.js';
import { wireMiddleware } from '../middleware/src/wiring.js';
import { captureLogs } from './support/logs.js';
import { sqliteAt } from './support/databases.js';

const unreachable = { baseUrl: 'http://127.0.0.1:9', timeoutMs: 1000, retryDelayMs: 0, logger: createSilentLogger() };

const services = [
  {
    name: 'CRM',
    build: (logger = createSilentLogger()) => createCrm({ database: sqliteAt(crmSchema), logger }),
    list: '/customers',
    post: '/customers',
    emptyPost: 400,
  },
  {
    name: 'Inventory',
    build: (logger = createSilentLogger()) => createInventory({ database: sqliteAt(inventorySchema), logger }),
    list: '/packages',
    post: '/packages',
    emptyPost: 400,
  },
  {
    name: 'middleware',
    build: (logger = createSilentLogger()) =>
      createMiddleware(
        wireMiddleware({
          database: sqliteAt(middlewareSchema),
          logger,
          crmUrl: unreachable.baseUrl,
          inventoryUrl: unreachable.baseUrl,
          timeoutMs: unreachable.timeoutMs,
          retryDelayMs: 0,
        }),
      ),
    list: '/dead-letters',
    post: '/dead-letters/1/replay',
    emptyPost: 404,
  },
];

/** The services whose `post` route takes a JSON body; the middleware's replay takes none. */
const bodyRoutes = services.filter((service) => service.name !== 'middleware');

describe.each(bodyRoutes)('$name: a route that takes a JSON body', ({ build, post, emptyPost }) => {
  test('a body that is not JSON is a 415', async () => {
    const response = await request(build().callback()).post(post).set('Content-Type', 'text/plain').send('name=Alice');
    expect(response.status).toBe(415);
    expect(response.body).toMatchObject({ type: '/problems/unsupported-media-type', status: 415 });
  });

  test('a form body is a 415', async () => {
    const response = await request(build().callback()).post(post).type('form').send({ name: 'Alice' });
    expect(response.status).toBe(415);
  });

  test('an empty POST without a Content-Type is read as an empty body, not refused as a 415', async () => {
    const response = await request(build().callback()).post(post).set('Content-Length', '0');
    expect(response.status).toBe(emptyPost);
  });

  test('a body that says it is compressed and is not is a 400 problem, not a 500', async () => {
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const response = await request(build().callback())
        .post(post)
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', encoding)
        .send('[[[[');
      expect([encoding, response.status, response.body.type]).toEqual([encoding, 400, '/problems/malformed-body']);
    }
  });

  test('malformed JSON is a 400 problem', async () => {
    const response = await request(build().callback())
      .post(post)
      .set('Content-Type', 'application/json')
      .send('{"name": ');
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ type: '/problems/malformed-json', status: 400 });
  });

  test('a body over 64 KiB is a 413 problem', async () => {
    const response = await request(build().callback())
      .post(post)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ name: 'x'.repeat(65 * 1024) }));
    expect(response.status).toBe(413);
    expect(response.body).toMatchObject({ type: '/problems/body-too-large', status: 413 });
  });
});

describe('the middleware: a route that takes no body', () => {
  const middleware = services.find((service) => service.name === 'middleware')!;
  test.each([
    ['text/plain', 'name=Alice'],
    ['application/json', '{"name": '],
    ['application/json', JSON.stringify({ name: 'x'.repeat(65 * 1024) })],
  ])('ignores a body of %s, whatever it holds: the replay answers as without one', async (type, body) => {
    const response = await request(middleware.build().callback())
      .post(middleware.post)
      .set('Content-Type', type)
      .send(body);
    expect(response.status).toBe(middleware.emptyPost);
    expect(response.body).toMatchObject({ type: '/problems/not-found' });
  });
});

describe.each(services)('$name: the HTTP behaviour common to all services', ({ build, list }) => {
  test('GET /health answers 200 {status: ok}', async () => {
    const response = await request(build().callback()).get('/health');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  test('an unknown route is a 404 problem, not an HTML page', async () => {
    const response = await request(build().callback()).get('/no/such/thing');
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body).toEqual({
      type: '/problems/not-found',
      title: 'Not Found',
      status: 404,
      detail: expect.any(String),
    });
  });

  test('a known route with the wrong method is a 405 with an Allow header', async () => {
    const response = await request(build().callback()).delete(list);
    expect(response.status).toBe(405);
    expect(response.headers.allow).toContain('GET');
    expect(response.body).toMatchObject({ type: '/problems/method-not-allowed', status: 405 });
  });

  test('a method nobody implements is a 405 too, never a 5xx', async () => {
    const response = await request(build().callback()).options(list).set('Access-Control-Request-Method', 'GET');
    expect(response.status).toBeLessThan(500);
    const unknown = await request(build().callback()).propfind(list);
    expect(unknown.status).toBe(405);
  });

  test('a list with a bad limit is a 400', async () => {
    const response = await request(build().callback()).get(`${list}?limit=5000`);
    expect(response.status).toBe(400);
  });

  test('echoes the caller X-Request-Id, makes one when there is none, and logs the request once', async () => {
    const { logger, lines } = captureLogs();
    const app = build(logger).callback();
    const given = await request(app).get('/health').set('X-Request-Id', 'abc-123');
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await request(app).get('/health');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const logged = lines.filter((line) => line.path === '/health');
    expect(logged).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: '/health',
        status: 200,
        ms: expect.any(Number),
        requestId: 'abc-123',
      }),
      expect.objectContaining({ requestId: made.headers['x-request-id'] }),
    ]);
  });

  test('refuses an X-Request-Id that could forge log lines, making its own', async () => {
    const response = await request(build().callback()).get('/health').set('X-Request-Id', 'a b\tc');
    expect(response.headers['x-request-id']).not.toBe('a b\tc');
  });
});
