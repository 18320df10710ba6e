import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { chromium, type Browser, type Page } from 'playwright-core';
import { FaultProxy } from '../support/fault-proxy.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { getJson, Platform, postJson, ROOT } from './platform.js';

// Debian's Chromium; playwright-core never downloads a browser of its own.
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasBrowser = existsSync(executablePath);
const screenshots = join(ROOT, 'test-results');
// Jaeger's page for a trace; nothing is served there, the link is only read.
const TRACE_UI_URL = 'http://127.0.0.1:16686/trace/{traceId}';

if (!hasBrowser) {
  if (process.env.CI) {
    test('Chromium is installed for the status page test', () => {
      throw new Error(`No Chromium at ${executablePath}: .ci/run must install it (apt-get install chromium)`);
    });
  } else {
    process.stdout.write(
      `status page browser test skipped: no Chromium at ${executablePath} ` +
        '(apt-get install chromium, or set CHROMIUM_PATH)\n',
    );
  }
}

(hasBrowser ? describe : describe.skip)('the status page, in a real headless Chromium', () => {
  let platform: Platform;
  let inventoryProxy: FaultProxy;
  let traces: OtlpReceiver;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    // Traced, so that a journey has a trace to link to.
    traces = await new OtlpReceiver().listen();
    platform = new Platform({ pollIntervalMs: 200 });
    for (const service of [platform.crm, platform.inventory, platform.middleware])
      Object.assign(service.env, traces.env);
    platform.middleware.env.TRACE_UI_URL = TRACE_UI_URL;
    await platform.start({ middleware: false });
    inventoryProxy = await new FaultProxy(platform.inventory.url).listen();
    platform.middleware.env.INVENTORY_URL = inventoryProxy.url;
    await platform.middleware.start();
    browser = await chromium.launch({
      executablePath,
      headless: true,
      // As root on a closed network: no sandbox, and no background calls home.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    // Anything the Content-Security-Policy blocks, or that fails in the page, is reported here.
    page.on('console', (message) => {
      // A browser asks every origin for /favicon.ico; the services have none.
      if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico'))
        pageErrors.push(`${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    mkdirSync(screenshots, { recursive: true });
  });
  const pageErrors: string[] = [];

  afterAll(async () => {
    await browser?.close();
    await inventoryProxy?.close();
    await platform?.close();
    await traces?.close();
  });

  const packageOf = async (customerId: number) =>
    ((await getJson(`${platform.inventory.url}/packages?customerId=${customerId}`)) as Array<{ id: number }>)[0]!;

  let made = 0;
  const createCustomer = async (name: string) => {
    made += 1;
    const response = await postJson(`${platform.crm.url}/customers`, { name, email: `customer-${made}@example.com` });
    expect(response.status).toBe(201);
    return response.body as { id: number };
  };

  test('a new customer appears among the latest packages, and the counters move', async () => {
    await page.goto(platform.middleware.url);
    await page.locator('#deliveries td.empty').waitFor();
    const alice = await createCustomer('Alice');
    await page.locator('#deliveries tbody tr', { hasText: 'Alice' }).waitFor({ timeout: 10_000 });
    await page.locator('#cursor', { hasText: String(alice.id) }).waitFor();
    expect(await page.locator('#created').textContent()).toBe('1');
    expect(await page.locator('#banner').isVisible()).toBe(false);
  });

  test('when the Inventory breaks, the outage banner says so', async () => {
    inventoryProxy.set({ kind: 'status', status: 503 });
    await createCustomer('Bob');
    await page.locator('#banner.on', { hasText: 'Inventory unreachable since' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#banner').textContent()).toContain('answered 503');
    await page.screenshot({ path: join(screenshots, 'status-page-outage.png'), fullPage: true });
  });

  test('a dead letter can be replayed with its button once the cause is gone', async () => {
    // The Inventory now refuses Bob for good: he is dead-lettered, and the outage is over.
    inventoryProxy.set({ kind: 'status', status: 422 });
    const replay = page.locator('#dead-letters button[data-replay]');
    await replay.waitFor({ timeout: 15_000 });
    await page.locator('#banner').waitFor({ state: 'hidden' });
    expect(await page.locator('#dead-letters tbody tr').first().textContent()).toContain('422');
    await page.screenshot({ path: join(screenshots, 'status-page-dead-letter.png'), fullPage: true });

    inventoryProxy.set(null);
    await replay.click();
    await page.locator('#replay-result', { hasText: 'delivered' }).waitFor();
    await page.locator('#dead-letters td.empty', { hasText: 'No dead letters.' }).waitFor();
    await page.locator('#deliveries tbody tr', { hasText: 'Bob' }).waitFor();
    expect(await page.locator('#deadLetters').textContent()).toBe('0');
    await page.screenshot({ path: join(screenshots, 'status-page.png'), fullPage: true });
  });

  test('"Reconcile now" finds and repairs a package the Inventory lost, and the page shows the finding', async () => {
    const carol = await createCustomer('Carol');
    await page.locator('#deliveries tbody tr', { hasText: 'Carol' }).waitFor({ timeout: 10_000 });
    const sql = new Database(join(platform.dir, 'inventory.db'));
    sql.prepare('DELETE FROM packages WHERE customer_id = ?').run(carol.id);
    sql.close();

    await page.locator('#reconcile').click();
    await page.locator('#reconcile-result', { hasText: /^Reconciliation \d+ started\.$/ }).waitFor();
    await page.locator('#reconciliation', { hasText: 'done' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#reconciliation').textContent()).toContain(
      '1 missing (1 repaired), 0 mismatched, 0 orphaned',
    );
    expect(await page.locator('#findings tbody tr').first().textContent()).toBe(
      `missing${carol.id}Carol${(await packageOf(carol.id)).id}created`,
    );
    await page.screenshot({ path: join(screenshots, 'status-page-reconciliation.png'), fullPage: true });
  });

  test('names from the CRM are shown as text, never run as HTML', async () => {
    await createCustomer('<img src=x onerror="document.body.dataset.pwned=1">');
    await page.locator('#deliveries tbody tr', { hasText: '<img src=x' }).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => document.body.dataset.pwned)).toBeUndefined();
  });

  test(
    '"What happened to customer…" shows a delivered customer\'s journey with its trace, ' +
      "a dead-lettered one's refusal, and says so for an unknown or bad id",
    async () => {
      const dave = await createCustomer('Dave');
      await page.locator('#deliveries tbody tr', { hasText: 'Dave' }).waitFor({ timeout: 10_000 });
      inventoryProxy.set({ kind: 'status', status: 422 });
      const erin = await createCustomer('Erin');
      await page.locator('#dead-letters tbody tr', { hasText: String(erin.id) }).waitFor({ timeout: 15_000 });
      inventoryProxy.set(null);
      const search = async (id: string) => {
        await page.locator('#journey-id').fill(id);
        await page.locator('#journey-form button[type=submit]').click();
      };
      const stepRows = () =>
        page.locator('#journey tbody tr').evaluateAll((rows) =>
          rows.map((row) => [
            (row as HTMLElement).dataset.kind,
            ...Array.from(row.children)
              .slice(1, 3)
              .map((cell) => cell.textContent),
          ]),
        );

      await search(String(dave.id));
      await page.locator('#journey-result', { hasText: `Customer ${dave.id}:` }).waitFor();
      const daveJourney = (await getJson(`${platform.middleware.url}/customers/${dave.id}/journey`)) as {
        traceId: string | null;
      };
      expect(daveJourney.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(await page.locator('#journey-trace').getAttribute('href')).toBe(
        TRACE_UI_URL.replace('{traceId}', daveJourney.traceId!),
      );
      expect(await page.locator('#journey-trace').textContent()).toBe('Open the trace');
      expect(await stepRows()).toEqual(
        expect.arrayContaining([
          ['found', 'Found', 'by a poll'],
          ['asked', 'Asked the Inventory', 'answered 201'],
          ['outcome', 'Outcome', `package ${(await packageOf(dave.id)).id} created`],
        ]),
      );
      await page.locator('#journey').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(screenshots, 'status-page-journey.png'), fullPage: true });

      await search(String(erin.id));
      await page.locator('#journey-result', { hasText: `Customer ${erin.id}:` }).waitFor();
      const letter = (
        (await getJson(`${platform.middleware.url}/dead-letters`)) as Array<{ id: number; customerId: number }>
      ).find((l) => l.customerId === erin.id)!;
      expect(await stepRows()).toEqual(
        expect.arrayContaining([
          ['asked', 'Asked the Inventory', 'answered 422'],
          ['outcome', 'Outcome', `refused with 422: dead letter ${letter.id}`],
        ]),
      );
      await page.screenshot({ path: join(screenshots, 'status-page-journey-dead-letter.png'), fullPage: true });

      await search('999999');
      await page.locator('#journey-result', { hasText: 'The middleware has not seen customer 999999' }).waitFor();
      expect(await page.locator('#journey').isVisible()).toBe(false);
      expect(await page.locator('#journey-trace').isVisible()).toBe(false);
      await search('4711abc');
      await page.locator('#journey-result', { hasText: 'A customer id is a whole number from 1' }).waitFor();
    },
  );

  test('delivery is paused and resumed with the page’s buttons; the state says paused, and why', async () => {
    await page.goto(platform.middleware.url);
    await page.locator('#delivery-state', { hasText: 'Delivering' }).waitFor();
    expect(await page.locator('#breaker').textContent()).toBe('closed');
    await page.fill('#pause-reason', 'Inventory upgrade');
    await page.click('#pause');
    await page.locator('#delivery-state', { hasText: 'Paused' }).waitFor();
    expect(await page.locator('#delivery-state').textContent()).toContain('Inventory upgrade');
    expect((await getJson(`${platform.middleware.url}/delivery`)).paused).toMatchObject({
      reason: 'Inventory upgrade',
    });
    await page.screenshot({ path: join(screenshots, 'status-page-paused.png'), fullPage: true });
    expect(await page.locator('#pause').isVisible()).toBe(false);
    await page.click('#resume');
    await page.locator('#delivery-state', { hasText: 'Delivering' }).waitFor();
    expect((await getJson(`${platform.middleware.url}/delivery`)).paused).toBeNull();
  });

  test('the API docs render in Swagger UI from local files, one operation block per documented operation', async () => {
    // Away from the status page first: its refresh, every two seconds, must not count as a request of the docs.
    await page.goto('about:blank');
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(`${platform.crm.url}/docs`);
    await page.locator('.opblock-summary-path', { hasText: '/customers/{id}' }).first().waitFor({ timeout: 15_000 });
    const document = (await getJson(`${platform.crm.url}/openapi.json`)) as { paths: Record<string, object> };
    const operations = Object.values(document.paths).reduce((sum, methods) => sum + Object.keys(methods).length, 0);
    expect(await page.locator('.opblock').count()).toBe(operations);
    expect(requested.filter((url) => !url.startsWith(platform.crm.url) && !url.startsWith('data:'))).toEqual([]);
    await page.screenshot({ path: join(screenshots, 'crm-docs.png') });
  });

  test('"Try it out" in Swagger UI talks to the instance that served the document', async () => {
    const answered: string[] = [];
    page.on('response', (response) =>
      answered.push(`${response.request().method()} ${response.url()} ${response.status()}`),
    );
    await page.goto(`${platform.inventory.url}/docs`);
    const health = page.locator('.opblock', { has: page.locator('.opblock-summary-path', { hasText: /^\/health$/ }) });
    await health.locator('.opblock-summary').click();
    await health.locator('button.try-out__btn').click();
    await health.locator('button.execute').click();
    await health.locator('.live-responses-table .response-col_status', { hasText: '200' }).waitFor({ timeout: 10_000 });
    expect(answered).toContain(`GET ${platform.inventory.url}/health 200`);
  });

  test('every page ran under its Content-Security-Policy without a violation or an error', async () => {
    for (const url of [platform.middleware.url, `${platform.crm.url}/docs`]) {
      const policy = (await fetch(url)).headers.get('content-security-policy') ?? '';
      expect(policy).toMatch(/script-src 'self'/);
      expect(policy).not.toMatch(/unsafe-eval|upgrade-insecure-requests/);
    }
    // The status page (at least once a test's worth of refreshes) and Swagger UI have run by now.
    expect(pageErrors).toEqual([]);
  });

  test('with API keys, the status page asks for one and then shows the status', async () => {
    const keyed = await new Platform({ pollIntervalMs: 200 });
    keyed.middleware.env.API_KEYS = 'status-page-key-0123456789';
    try {
      await keyed.start();
      const other = await browser.newPage();
      await other.goto(keyed.middleware.url);
      await other.locator('#key-form').waitFor({ state: 'visible', timeout: 10_000 });
      expect(await other.locator('#cursor').textContent()).toBe('–');
      await other.locator('#key').fill('status-page-key-0123456789');
      await other.locator('#key-form button[type=submit]').click();
      await other.locator('#key-form').waitFor({ state: 'hidden' });
      await other.locator('#cursor', { hasText: '0' }).waitFor({ timeout: 10_000 });
      expect(await other.locator('#banner').isVisible()).toBe(false);
      await other.close();
    } finally {
      await keyed.close();
    }
  });
});
