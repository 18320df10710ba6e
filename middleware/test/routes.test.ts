import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createApp } from '../src/app.js';
import { syncNewCustomers } from '../src/domain/sync.js';
import { sendJson, serveHandler } from '../../test/support/servers.js';
import { BACKENDS } from '../../test/support/databases.js';
import {
  closedAfterEach,
  createCustomer,
  gatedInventory,
  listPackages,
  middlewareDeps,
  postPackage,
} from './support.js';

const { upstreams, server } = closedAfterEach();

describe.each(BACKENDS)('GET /status on %s', (backend) => {
  test('tells the cursor, the times and the counters', async () => {
    const { crm, inventory } = await upstreams();
    await createCustomer(crm.url, 'Alice');
    await createCustomer(crm.url, 'Bob');
    await postPackage(inventory.url, 2, 'Bob');
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });
    await syncNewCustomers(deps.polling);

    const response = await request(createApp(deps).callback()).get('/status');

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      cursor: 2,
      lastPollAt: expect.any(String),
      lastSuccessAt: expect.any(String),
      created: 1,
      synced: 1,
      alreadyThere: 1,
      failedCycles: 0,
      lastError: null,
      outage: null,
      deadLetters: 0,
      crmHighestId: 2,
      lag: 0,
      recentDeliveries: [
        { customerId: 2, customerName: 'Bob', packageId: 1, outcome: 'alreadyThere', at: expect.any(String) },
        { customerId: 1, customerName: 'Alice', packageId: 2, outcome: 'created', at: expect.any(String) },
      ],
      deliveriesByPath: { webhook: 0, longPoll: 0, poll: 2 },
      lastWebhookAt: null,
      replicas: [],
      lastReconciliation: null,
      paused: null,
      throttle: null,
      breaker: { state: 'closed', since: null, reason: null, nextProbeAt: null },
    });
  });
});

describe.each(BACKENDS)('dead letters on %s', (backend) => {
  async function withDeadLetter() {
    const { crm, inventory } = await upstreams();
    await createCustomer(crm.url, 'Alice');
    await postPackage(inventory.url, 1, 'Mallory');
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url });
    await syncNewCustomers(deps.polling);
    return { crm, inventory, deps, http: request(createApp(deps).callback()) };
  }

  test('GET /dead-letters lists each with the refusal, attempts and times', async () => {
    const { http } = await withDeadLetter();
    const response = await http.get('/dead-letters');
    expect(response.status).toBe(200);
    expect(response.body).toEqual([
      {
        id: 1,
        customerId: 1,
        customer: { id: 1, name: 'Alice' },
        status: 409,
        reason: expect.objectContaining({ type: '/problems/customer-has-package' }),
        attempts: 1,
        firstFailedAt: expect.any(String),
        lastFailedAt: expect.any(String),
      },
    ]);
  });

  test('a replay still refused answers 200 with the outcome and counts the attempt', async () => {
    const { http } = await withDeadLetter();
    const response = await http.post('/dead-letters/1/replay');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      customerId: 1,
      outcome: 'stillRefused',
      deadLetter: { attempts: 2, status: 409 },
    });
    expect((await http.get('/status')).body.deadLetters).toBe(1);
  });

  test('a replay that goes through answers 200 created, and the customer leaves the list', async () => {
    const crmCustomers = [{ id: 1, name: 'Alice' }];
    let refuse = true;
    const crm = await server(
      serveHandler((req, res) =>
        sendJson(res, 200, req.url?.startsWith('/customers/1') ? crmCustomers[0] : crmCustomers),
      ),
    );
    const { inventory } = await upstreams();
    const gate = await server(gatedInventory(inventory.url, () => (refuse ? 422 : undefined)));
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: gate.url });
    await syncNewCustomers(deps.polling);
    const http = request(createApp(deps).callback());
    expect((await http.get('/dead-letters')).body).toHaveLength(1);

    refuse = false;
    const response = await http.post('/dead-letters/1/replay');

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ id: 1, customerId: 1, outcome: 'created', packageId: 1 });
    expect((await http.get('/dead-letters')).body).toEqual([]);
    expect((await http.get('/status')).body).toMatchObject({ created: 1, deadLetters: 0, cursor: 1 });
    expect(await listPackages(inventory.url)).toEqual([
      expect.objectContaining({ customerId: 1, customerName: 'Alice' }),
    ]);
  });

  test('a replay while the Inventory is down is a 502 problem and changes nothing', async () => {
    const { http, inventory } = await withDeadLetter();
    await inventory.close();
    const response = await http.post('/dead-letters/1/replay');
    expect(response.status).toBe(502);
    expect(response.body).toMatchObject({ type: '/problems/upstream-unavailable', status: 502 });
    expect((await http.get('/dead-letters')).body[0].attempts).toBe(1);
  });

  test('POST /dead-letters/replay replays them all, saying what happened to each', async () => {
    const { crm, inventory } = await upstreams();
    for (const name of ['Alice', 'Bob', 'Carol']) await createCustomer(crm.url, name);
    let refused = new Set([1, 2, 3]);
    const gate = await server(
      gatedInventory(inventory.url, ({ customerId }) => (refused.has(customerId) ? 422 : undefined)),
    );
    // One at a time, so that the letters are numbered in customer order.
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: gate.url, concurrency: 1 });
    await syncNewCustomers(deps.polling);
    const http = request(createApp(deps).callback());
    expect((await http.get('/status')).body.deadLetters).toBe(3);

    refused = new Set([2]);
    const response = await http.post('/dead-letters/replay');

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      delivered: 2,
      stillRefused: 1,
      notTried: 0,
      results: [
        { id: 1, customerId: 1, outcome: 'created', packageId: 1 },
        expect.objectContaining({
          id: 2,
          customerId: 2,
          outcome: 'stillRefused',
          deadLetter: expect.objectContaining({ attempts: 2, status: 422 }),
        }),
        { id: 3, customerId: 3, outcome: 'created', packageId: 2 },
      ],
    });
    expect((await http.get('/dead-letters')).body).toEqual([expect.objectContaining({ id: 2, attempts: 2 })]);
    expect((await http.get('/status')).body).toMatchObject({ created: 2, deadLetters: 1 });
  });

  test('a replay of all stops at an unavailable upstream and leaves the rest untouched', async () => {
    const { http, inventory } = await withDeadLetter();
    await inventory.close();
    const response = await http.post('/dead-letters/replay');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      delivered: 0,
      stillRefused: 0,
      notTried: 1,
      stoppedBy: expect.stringMatching(/^Inventory unavailable/),
      results: [],
    });
    expect((await http.get('/dead-letters')).body[0].attempts).toBe(1);
  });

  test('a replay of a customer not in the list is a 404; of a bad id, a 400', async () => {
    const { http } = await withDeadLetter();
    expect((await http.post('/dead-letters/7/replay')).status).toBe(404);
    expect((await http.post('/dead-letters/abc/replay')).status).toBe(400);
  });
});
