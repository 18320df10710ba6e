import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createApp } from '../src/app.js';
import { syncNewCustomers } from '../src/domain/sync.js';
import { BACKENDS, type Backend } from '../../test/support/databases.js';
import { waitFor } from '../../test/support/servers.js';
import {
  closedAfterEach,
  countingInventory,
  createCustomer,
  gatedInventory,
  listPackages,
  middlewareDeps,
  signedBatch,
  signedEvent,
} from './support.js';

const { upstreams, server } = closedAfterEach();
const secret = `whsec_${Buffer.alloc(24, 3).toString('base64')}`;

/** The middleware with webhooks on, in front of the real CRM and an Inventory that counts its requests. */
async function receiver(backend: Backend, options: { inventoryDelayMs?: number } = {}) {
  const { crm, inventory } = await upstreams();
  const counted = await server(countingInventory(inventory.url, options.inventoryDelayMs));
  const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: counted.url, webhookSecret: secret });
  const http = request(createApp(deps).callback());
  const send = (event: { body: string; headers: Record<string, string> }) =>
    http.post('/webhooks/crm').set(event.headers).send(event.body);
  return { crm, inventory, requests: counted.requests, deps, http, send };
}

/** The middleware with webhooks on, in front of the real CRM and an Inventory whose answers `gate` may replace. */
async function gatedReceiver(backend: Backend, gate: () => number | undefined) {
  const { crm, inventory } = await upstreams();
  const gated = await server(gatedInventory(inventory.url, gate));
  const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: gated.url, webhookSecret: secret });
  return { crm, inventory, deps, http: request(createApp(deps).callback()) };
}

describe.each(BACKENDS)('POST /webhooks/crm on %s', (backend) => {
  test('is not there without CRM_WEBHOOK_SECRET', async () => {
    const { crm, inventory } = await upstreams();
    const http = request(
      createApp(await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: inventory.url })).callback(),
    );
    expect((await http.post('/webhooks/crm').set('Content-Type', 'application/json').send('{}')).status).toBe(404);
  });

  test(
    "a signed customer.created gets the customer's package at once, " +
      'and the cursor moves past her when all before her are handled',
    async () => {
      const { crm, inventory, requests, deps, send } = await receiver(backend);
      const alice = await createCustomer(crm.url, 'Alice');
      const response = await send(signedEvent(secret, alice));
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ customerId: alice.id, outcome: 'created', packageId: expect.any(Number) });
      expect(await listPackages(inventory.url)).toEqual([
        expect.objectContaining({ customerId: alice.id, customerName: 'Alice' }),
      ]);
      expect(await deps.stores.status.read()).toMatchObject({
        cursor: alice.id,
        created: 1,
        deliveriesByPath: { webhook: 1, longPoll: 0, poll: 0 },
      });
      // Noted in a write of its own beside the delivery, which may land just after the answer.
      await waitFor('the webhook to be noted', async () => (await deps.stores.status.read()).lastWebhookAt !== null);
      expect((await deps.stores.status.read()).crmHighestId).toBe(alice.id);

      const metrics = (await request(createApp(deps).callback()).get('/metrics')).text;
      expect(metrics).toMatch(/^middleware_deliveries_webhook\{service="middleware"\} 1$/m);
      expect(metrics).toMatch(/^middleware_last_webhook_timestamp_seconds\{service="middleware"\} [1-9]/m);

      // The poller finds nobody new, and does not ask the Inventory again: one request per customer.
      expect(await syncNewCustomers(deps.polling)).toMatchObject({ found: 0 });
      expect(requests).toEqual([alice.id]);
    },
  );

  test('the same webhook-id again is a 200, and the Inventory is not asked again', async () => {
    const { crm, requests, send } = await receiver(backend);
    const alice = await createCustomer(crm.url, 'Alice');
    const event = signedEvent(secret, alice, { id: 'msg_7' });
    expect((await send(event)).body).toMatchObject({ outcome: 'created' });
    const again = await send(event);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ webhookId: 'msg_7', outcome: 'handledBefore', repeat: true });
    expect(requests).toEqual([alice.id]);
  });

  test(
    'a batch (a JSON array of events) gets each customer its package, ' +
      'answered once all are, in order; sent again, nobody is asked for twice',
    async () => {
      const { crm, inventory, requests, deps, send } = await receiver(backend);
      const customers = [
        await createCustomer(crm.url, 'Alice'),
        await createCustomer(crm.url, 'Bob'),
        await createCustomer(crm.url, 'Carol'),
      ];
      const batch = signedBatch(secret, customers, { id: 'batch_abc' });
      const response = await send(batch);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        webhookId: 'batch_abc',
        results: customers.map((customer, index) =>
          expect.objectContaining({ webhookId: `msg_${index + 1}`, customerId: customer.id, outcome: 'created' }),
        ),
      });
      expect((await listPackages(inventory.url)).map((pkg) => pkg.customerName).sort()).toEqual([
        'Alice',
        'Bob',
        'Carol',
      ]);
      expect(await deps.stores.status.read()).toMatchObject({
        cursor: customers[2]!.id,
        created: 3,
        deliveriesByPath: { webhook: 3 },
      });

      const again = await send(batch);
      expect(again.status).toBe(200);
      expect(again.body.results).toEqual(customers.map(() => expect.objectContaining({ repeat: true })));
      expect([...requests].sort()).toEqual(customers.map((customer) => customer.id).sort());
    },
  );

  test(
    "a batch while the Inventory is down is a 503 with Retry-After and each event's answer; " +
      'sent again once it is up, it is delivered',
    async () => {
      let down = true;
      const { crm, inventory, http } = await gatedReceiver(backend, () => (down ? 503 : undefined));
      const customers = [await createCustomer(crm.url, 'Alice'), await createCustomer(crm.url, 'Bob')];
      const batch = signedBatch(secret, customers);
      const refused = await http.post('/webhooks/crm').set(batch.headers).send(batch.body);
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refused.body).toMatchObject({
        type: '/problems/upstream-unavailable',
        results: [expect.objectContaining({ status: 503 }), expect.objectContaining({ status: 503 })],
      });
      expect(await listPackages(inventory.url)).toEqual([]);
      down = false;
      const delivered = await http.post('/webhooks/crm').set(batch.headers).send(batch.body);
      expect(delivered.status).toBe(200);
      expect(delivered.body.results).toEqual([
        expect.objectContaining({ outcome: 'created' }),
        expect.objectContaining({ outcome: 'created' }),
      ]);
    },
  );

  test.each([
    [
      'no signature at all',
      (event: ReturnType<typeof signedEvent>) => ({
        body: event.body,
        headers: { 'content-type': 'application/json' },
      }),
    ],
    [
      'a signature made with another secret',
      () => signedEvent(`whsec_${Buffer.alloc(24, 4).toString('base64')}`, { id: 1, name: 'Alice' }),
    ],
    [
      'a timestamp ten minutes old (a replay)',
      () => signedEvent(secret, { id: 1, name: 'Alice' }, { at: new Date(Date.now() - 600_000) }),
    ],
    [
      'a body changed after signing',
      (event: ReturnType<typeof signedEvent>) => ({ ...event, body: event.body.replace('Alice', 'Mallory') }),
    ],
    [
      'a body that is not even JSON',
      (event: ReturnType<typeof signedEvent>) => ({
        body: 'hello',
        headers: { ...event.headers, 'content-type': 'text/plain' },
      }),
    ],
  ])('%s is a 401 problem, and nothing is done', async (_, forge) => {
    const { requests, deps, send } = await receiver(backend);
    const response = await send(forge(signedEvent(secret, { id: 1, name: 'Alice' })));
    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ type: '/problems/invalid-signature', status: 401 });
    expect(requests).toEqual([]);
    expect(await deps.stores.status.read()).toMatchObject({ created: 0, deadLetters: 0, lastWebhookAt: null });
  });

  test(
    'while the Inventory is down the answer is 503 with Retry-After, ' +
      'so the CRM sends it again; then it is delivered',
    async () => {
      let down = true;
      const { crm, http } = await gatedReceiver(backend, () => (down ? 503 : undefined));
      const alice = await createCustomer(crm.url, 'Alice');
      const event = signedEvent(secret, alice);
      const refused = await http.post('/webhooks/crm').set(event.headers).send(event.body);
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refused.body).toMatchObject({ type: '/problems/upstream-unavailable' });
      down = false;
      expect((await http.post('/webhooks/crm').set(event.headers).send(event.body)).body).toMatchObject({
        outcome: 'created',
      });
    },
  );

  test(
    'an Inventory refusal is dead-lettered (200, so the CRM stops sending it), ' + 'and the cursor moves past it',
    async () => {
      const { crm, deps, http } = await gatedReceiver(backend, () => 409);
      const alice = await createCustomer(crm.url, 'Alice');
      const event = signedEvent(secret, alice);
      const response = await http.post('/webhooks/crm').set(event.headers).send(event.body);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ outcome: 'deadLettered', deadLetterId: 1, status: 409 });
      expect(await deps.stores.status.read()).toMatchObject({ cursor: alice.id, deadLetters: 1 });
      expect(await syncNewCustomers(deps.polling)).toMatchObject({ found: 0 });
      expect(await deps.stores.status.read()).toMatchObject({ cursor: alice.id, deadLetters: 1 });
    },
  );

  test('other event types are acknowledged and ignored', async () => {
    const { requests, send } = await receiver(backend);
    const response = await send(signedEvent(secret, { id: 1 }, { type: 'customer.deleted' }));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ outcome: 'ignored', type: 'customer.deleted' });
    expect(requests).toEqual([]);
  });

  test("a webhook's customer ahead of others never moves the cursor past those not yet delivered", async () => {
    const { crm, requests, deps, send } = await receiver(backend);
    const first = await createCustomer(crm.url, 'First');
    const second = await createCustomer(crm.url, 'Second');
    const third = await createCustomer(crm.url, 'Third');
    await send(signedEvent(secret, third));
    await send(signedEvent(secret, second));
    expect(await deps.stores.deliveries.cursor()).toBe(0);
    // The first one's webhook closes the gap: the cursor runs over all three.
    await send(signedEvent(secret, first));
    expect(await deps.stores.deliveries.cursor()).toBe(third.id);
    expect(requests).toEqual([third.id, second.id, first.id]);
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ found: 0 });
    expect(requests).toHaveLength(3);
  });

  test('a webhook and a poll racing for the same customer ask the Inventory once', async () => {
    const { crm, inventory, requests, deps, send } = await receiver(backend, { inventoryDelayMs: 300 });
    const alice = await createCustomer(crm.url, 'Alice');
    const [pushed, polled] = await Promise.all([send(signedEvent(secret, alice)), syncNewCustomers(deps.polling)]);
    expect(pushed.status).toBe(200);
    expect(polled).toMatchObject({ found: 1 });
    expect(requests).toEqual([alice.id]);
    expect(await deps.stores.deliveries.cursor()).toBe(alice.id);
    expect(await listPackages(inventory.url)).toHaveLength(1);
  });
});
