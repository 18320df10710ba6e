import { describe, expect, test } from '@jest/globals';
import { createApp as createInventory } from '../../inventory/src/app.js';
import { inventorySchema } from '../../inventory/src/store/schema.js';
import { createSilentLogger } from '@welcome/common';
import { syncNewCustomers } from '../src/domain/sync.js';
import { captureLogs } from '../../test/support/logs.js';
import { sendJson, serveApp, serveHandler } from '../../test/support/servers.js';
import {
  closedAfterEach,
  countingInventory,
  createCustomer,
  gatedInventory,
  listPackages,
  middlewareDeps,
  postPackage,
} from './support.js';
import { BACKENDS, sqliteAt } from '../../test/support/databases.js';

const { upstreams, server: track } = closedAfterEach();

describe.each(BACKENDS)('syncNewCustomers on %s', (backend) => {
  test('gives every new customer one package and moves the cursor past them', async () => {
    const { crm, inventory } = await upstreams();
    for (const name of ['Alice', 'Bob', 'Carol']) await createCustomer(crm.url, name);
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });

    const report = await syncNewCustomers(deps.polling);

    // It moved the cursor: the next cycle starts at once, in case more came meanwhile.
    expect(report).toEqual({ found: 3, created: 3, alreadyThere: 0, deadLettered: 0, more: true });
    // Up to DELIVERY_CONCURRENCY are asked for at once: the Inventory may number them in any order.
    expect(
      (await listPackages(inventory.url))
        .map((p) => [p.customerId, p.customerName])
        .sort(([a], [b]) => Number(a) - Number(b)),
    ).toEqual([
      [1, 'Alice'],
      [2, 'Bob'],
      [3, 'Carol'],
    ]);
    expect(await deps.stores.status.read()).toMatchObject({
      cursor: 3,
      created: 3,
      failedCycles: 0,
      lastSuccessAt: expect.any(String),
    });
  });

  test('asks only for customers after the cursor, following every page', async () => {
    const { crm, inventory } = await upstreams();
    for (let i = 1; i <= 250; i++) await createCustomer(crm.url, `Customer ${i}`);
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });
    await deps.stores.deliveries.advanceCursor(20);

    const report = await syncNewCustomers(deps.polling);

    expect(report.created).toBe(230);
    const packages = await listPackages(inventory.url);
    expect(packages.map((p) => p.customerId).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 230 }, (_, i) => i + 21),
    );
    expect(await deps.stores.deliveries.cursor()).toBe(250);
  });

  test('a second cycle with nothing new sends nothing, and lets the poller sleep', async () => {
    const { crm, inventory } = await upstreams();
    await createCustomer(crm.url, 'Alice');
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });
    await syncNewCustomers(deps.polling);
    expect(await syncNewCustomers(deps.polling)).toEqual({ found: 0, created: 0, alreadyThere: 0, deadLettered: 0 });
    expect(await listPackages(inventory.url)).toHaveLength(1);
  });

  test('with a plain CRM that ignores after and limit, it filters by id itself', async () => {
    const everyone = [3, 1, 2, 4].map((id) => ({ id, name: `C${id}`, email: `c${id}@example.com` }));
    const asked: string[] = [];
    const crm = await track(
      serveHandler((req, res) => {
        asked.push(req.url ?? '');
        sendJson(res, 200, everyone);
      }),
    );
    const { inventory } = await upstreams();
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });
    await deps.stores.deliveries.advanceCursor(1);

    expect(await syncNewCustomers(deps.polling)).toMatchObject({ found: 3, created: 3 });
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ found: 0, created: 0 });
    expect((await listPackages(inventory.url)).map((p) => p.customerId).sort((a, b) => a - b)).toEqual([2, 3, 4]);
    expect(asked[0]).toBe('/customers?after=1&limit=100');
    expect(await deps.stores.deliveries.cursor()).toBe(4);
  });

  test(
    'when the Inventory is down, the cycle stops, ' + 'the cursor stays, and the outage is logged once, not per cycle',
    async () => {
      const { crm, inventory } = await upstreams();
      for (const name of ['Alice', 'Bob', 'Carol']) await createCustomer(crm.url, name);
      await inventory.close();
      const { logger, lines } = captureLogs();
      const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url, logger });

      const reports = [
        await syncNewCustomers(deps.polling),
        await syncNewCustomers(deps.polling),
        await syncNewCustomers(deps.polling),
      ];

      // Three customers in flight fail at once in each cycle: after two, five asks have failed in a
      // row (BREAKER_FAILURES), the breaker opens, and the third cycle asks nothing.
      expect(reports.map((r) => r.failure ?? r.held?.reason)).toEqual([
        expect.stringMatching(/^Inventory unavailable: ECONNREFUSED/),
        expect.stringMatching(/^Inventory unavailable: ECONNREFUSED/),
        'breakerOpen',
      ]);
      expect(await deps.stores.status.read()).toMatchObject({
        cursor: 0,
        failedCycles: 2,
        lastSuccessAt: null,
        outage: { upstream: 'Inventory', since: expect.any(String), lastError: expect.stringMatching(/ECONNREFUSED/) },
      });
      const loud = lines.filter((line) => line.level === 'error' || line.level === 'warn');
      expect(loud.filter((line) => line.level === 'error')).toEqual([
        expect.objectContaining({ upstream: 'Inventory', cursor: 0, message: expect.stringMatching(/Outage began/) }),
        expect.objectContaining({ upstream: 'Inventory', message: expect.stringMatching(/circuit breaker open/) }),
      ]);
      expect(loud.filter((line) => line.level === 'warn' && /retrying/.test(line.message))).toHaveLength(1);
    },
  );

  test('when the Inventory is down, the customer is retried next cycle and nothing is lost', async () => {
    const { crm } = await upstreams();
    for (const name of ['Alice', 'Bob']) await createCustomer(crm.url, name);
    let down = true;
    const inventoryApp = createInventory({ database: sqliteAt(inventorySchema), logger: createSilentLogger() });
    const realInventory = await track(serveApp(inventoryApp));
    const gate = await track(gatedInventory(realInventory.url, () => (down ? 503 : undefined)));
    const { logger, lines } = captureLogs();
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: gate.url, logger });

    expect((await syncNewCustomers(deps.polling)).failure).toBe('Inventory unavailable: answered 503');
    down = false;
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 2 });
    expect((await listPackages(realInventory.url)).map((p) => p.customerName).sort()).toEqual(['Alice', 'Bob']);
    expect(await deps.stores.status.read()).toMatchObject({
      cursor: 2,
      failedCycles: 1,
      lastError: null,
      outage: null,
    });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        upstream: 'Inventory',
        message: expect.stringMatching(/^Inventory outage over after/),
      }),
    );
  });

  test('when the CRM is down, the cycle fails without moving anything', async () => {
    const { crm, inventory } = await upstreams();
    await crm.close();
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });
    expect((await syncNewCustomers(deps.polling)).failure).toMatch(/^CRM unavailable/);
    expect(await deps.stores.status.read()).toMatchObject({ cursor: 0, failedCycles: 1 });
  });

  test('a package the Inventory already has counts as there, not as new, and moves the cursor', async () => {
    const { crm, inventory } = await upstreams();
    await createCustomer(crm.url, 'Alice');
    await postPackage(inventory.url, 1, 'Alice');
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 0, alreadyThere: 1 });
    expect(await deps.stores.status.read()).toMatchObject({ cursor: 1, alreadyThere: 1 });
  });

  test('a permanent refusal dead-letters that customer with the answer, and the others still get theirs', async () => {
    const { crm, inventory } = await upstreams();
    for (const name of ['Alice', 'Bob', 'Carol']) await createCustomer(crm.url, name);
    await postPackage(inventory.url, 2, 'Mallory');
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });

    expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 2, deadLettered: 1 });
    expect(await deps.stores.deliveries.cursor()).toBe(3);
    expect(await deps.stores.deadLetters.list(0, 10)).toEqual([
      expect.objectContaining({
        customerId: 2,
        customer: { id: 2, name: 'Bob' },
        status: 409,
        reason: expect.objectContaining({ type: '/problems/customer-has-package', status: 409 }),
        attempts: 1,
      }),
    ]);
  });

  test('asked to stop, it ends after the customer in flight with the cursor saved', async () => {
    const { crm, inventory } = await upstreams();
    for (const name of ['Alice', 'Bob', 'Carol']) await createCustomer(crm.url, name);
    const counted = await track(countingInventory(inventory.url));
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: counted.url, concurrency: 1 });
    const report = await syncNewCustomers(deps.polling, () => counted.requests.length >= 1);
    expect(report).toMatchObject({ created: 1, interrupted: true });
    expect(counted.requests).toHaveLength(1);
    expect(await deps.stores.deliveries.cursor()).toBe(1);
    expect((await deps.stores.status.read()).created).toBe(1);
  });

  test('asked to stop with several in flight, it finishes them all and saves the cursor past them', async () => {
    const { crm, inventory } = await upstreams();
    for (let i = 1; i <= 40; i++) await createCustomer(crm.url, `Customer ${i}`);
    const slow = await track(countingInventory(inventory.url, 100));
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: slow.url, concurrency: 8 });
    const report = await syncNewCustomers(deps.polling, () => slow.requests.length >= 8);
    expect(report.interrupted).toBe(true);
    const delivered = (await listPackages(inventory.url)).map((p) => p.customerId).sort((a, b) => a - b);
    expect(delivered.length).toBeGreaterThanOrEqual(8);
    expect(delivered.length).toBeLessThan(40);
    expect(delivered).toEqual(Array.from({ length: delivered.length }, (_, i) => i + 1));
    expect(await deps.stores.deliveries.cursor()).toBe(delivered.length);
  });
});
