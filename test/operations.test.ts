import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createSilentLogger, openSqlite, sqliteDatabase } from '@welcome/common';
import { createApp as createCrm } from '../crm/src/app.js';
import { crmSchema } from '../crm/src/store/schema.js';
import { createApp as createInventory } from '../inventory/src/app.js';
import { inventorySchema } from '../inventory/src/store/schema.js';
import { createApp as createMiddleware } from '../middleware/src/app.js';
import { syncNewCustomers } from '../middleware/src/domain/sync.js';
import { closedAfterEach, createCustomer, middlewareDeps } from '../middleware/test/support.js';

const { upstreams } = closedAfterEach();

const crmApp = (db = openSqlite(':memory:', crmSchema.sqlite)) =>
  createCrm({ database: sqliteDatabase(db, createSilentLogger()), logger: createSilentLogger() });
const inventoryApp = (db = openSqlite(':memory:', inventorySchema.sqlite)) =>
  createInventory({ database: sqliteDatabase(db, createSilentLogger()), logger: createSilentLogger() });
async function middlewareApp() {
  const both = await upstreams();
  const deps = await middlewareDeps({ crmUrl: both.crm.url, inventoryUrl: both.inventory.url });
  return { ...both, deps, http: request(createMiddleware(deps).callback()) };
}

/** The value of one sample in a Prometheus text exposition, or undefined. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of metrics.split('\n')) {
    const match = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/** Validates a document against the OpenAPI 3.1 schema; the errors, if any. */
async function openApiErrors(document: unknown): Promise<unknown[]> {
  const result = await new Validator().validate(document as Parameters<Validator['validate']>[0]);
  return result.valid ? [] : (result.errors as unknown[]);
}

const postJson = (http: ReturnType<typeof request>, path: string, body: unknown) =>
  http.post(path).set('Content-Type', 'application/json').send(JSON.stringify(body));

describe('GET /metrics', () => {
  test('the CRM counts customers registered, not refusals, and times requests by route template', async () => {
    const http = request(crmApp().callback());
    await postJson(http, '/customers', { name: 'Alice', email: 'alice@example.com' });
    await postJson(http, '/customers', { name: 'Alice', email: 'alice@example.com' });
    await http.get('/customers/1');
    const response = await http.get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(response.text, 'crm_customers_created_total')).toBe(1);
    expect(
      sample(response.text, 'http_request_duration_seconds_count', {
        route: '/customers',
        method: 'POST',
        status: '201',
      }),
    ).toBe(1);
    expect(
      sample(response.text, 'http_request_duration_seconds_count', {
        route: '/customers',
        method: 'POST',
        status: '409',
      }),
    ).toBe(1);
    expect(
      sample(response.text, 'http_request_duration_seconds_count', {
        route: '/customers/:id',
        method: 'GET',
        status: '200',
      }),
    ).toBe(1);
    expect(sample(response.text, 'process_cpu_seconds_total', { service: 'crm' })).toBeGreaterThanOrEqual(0);
  });

  test('the Inventory counts packages created and requests replayed', async () => {
    const http = request(inventoryApp().callback());
    await postJson(http, '/packages', { customerId: 1, customerName: 'Alice' });
    await postJson(http, '/packages', { customerId: 1, customerName: 'Alice' });
    await postJson(http, '/packages', { customerId: 1, customerName: 'Alice' });
    await postJson(http, '/packages', { customerId: 1, customerName: 'Mallory' });
    const metrics = (await http.get('/metrics')).text;
    expect(sample(metrics, 'inventory_package_requests_total', { outcome: 'created' })).toBe(1);
    expect(sample(metrics, 'inventory_package_requests_total', { outcome: 'replayed' })).toBe(2);
  });

  test('the middleware tells its counters, cursor, lag and last success', async () => {
    const { crm, deps, http } = await middlewareApp();
    await createCustomer(crm.url, 'Alice');
    await createCustomer(crm.url, 'Bob');
    await syncNewCustomers(deps.polling);
    await createCustomer(crm.url, 'Carol');
    await deps.stores.status.recordCrmHighest(3);
    const metrics = (await http.get('/metrics')).text;
    expect(sample(metrics, 'middleware_packages_created')).toBe(2);
    expect(sample(metrics, 'middleware_packages_already_there')).toBe(0);
    expect(sample(metrics, 'middleware_failed_cycles')).toBe(0);
    expect(sample(metrics, 'middleware_dead_letters')).toBe(0);
    expect(sample(metrics, 'middleware_cursor')).toBe(2);
    expect(sample(metrics, 'middleware_lag')).toBe(1);
    expect(sample(metrics, 'middleware_outage')).toBe(0);
    const lastSuccess = sample(metrics, 'middleware_last_success_timestamp_seconds')!;
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(60);
  });
});

describe('GET /ready', () => {
  test('is 200 while the database answers, and a 503 naming it when it does not', async () => {
    const db = openSqlite(':memory:', crmSchema.sqlite);
    const http = request(crmApp(db).callback());
    expect((await http.get('/ready')).body).toEqual({ status: 'ready' });
    db.close();
    const response = await http.get('/ready');
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({
      type: '/problems/not-ready',
      errors: [{ field: 'database', message: expect.any(String) }],
    });
    expect((await http.get('/health')).status).toBe(200);
  });

  test('the middleware is ready only while both upstreams answer', async () => {
    const { http, inventory } = await middlewareApp();
    expect((await http.get('/ready')).status).toBe(200);
    await inventory.close();
    const response = await http.get('/ready');
    expect(response.status).toBe(503);
    expect(response.body.errors).toEqual([{ field: 'inventory', message: expect.stringMatching(/ECONNREFUSED/) }]);
  });
});

describe('the API documents', () => {
  test.each([
    ['CRM', () => crmApp()],
    ['Inventory', () => inventoryApp()],
  ])('the %s serves a valid OpenAPI 3.1 document', async (_, build) => {
    const document = (await request(build().callback()).get('/openapi.json')).body;
    expect(document.openapi).toBe('3.1.0');
    expect(await openApiErrors(document)).toEqual([]);
  });

  test('the middleware serves a valid OpenAPI 3.1 document', async () => {
    const { http } = await middlewareApp();
    expect(await openApiErrors((await http.get('/openapi.json')).body)).toEqual([]);
  });

  test('/docs is a Swagger UI page whose scripts and styles are served here, not from a CDN', async () => {
    const http = request(crmApp().callback());
    const page = await http.get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(['/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js', '/docs/init.js']);
    for (const asset of assets) {
      const response = await http.get(asset);
      expect([asset, response.status]).toEqual([asset, 200]);
    }
    expect((await http.get('/docs/init.js')).text).toContain("url: '/openapi.json'");
    expect((await http.get('/docs/package.json')).status).toBe(404);
    expect((await http.get('/docs/..%2F..%2Fpackage.json')).status).toBe(404);
  });
});

describe('the status page', () => {
  test(
    'is served at the middleware root as HTML ' + 'whose own script and style sheet read /status and /dead-letters',
    async () => {
      const { http } = await middlewareApp();
      const page = await http.get('/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('<script src="/assets/status-page.js" defer></script>');
      expect(page.text).not.toMatch(/<script>|<style>|style="|onclick=/);
      const script = await http.get('/assets/status-page.js');
      expect(script.headers['content-type']).toMatch(/^application\/javascript/);
      expect(script.text).toContain("api('/status')");
      expect(script.text).toContain("api('/dead-letters?limit=100')");
      expect((await http.get('/assets/status-page.css')).headers['content-type']).toMatch(/^text\/css/);
    },
  );
});
