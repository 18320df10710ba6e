import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createApp } from '../src/app.js';
import { syncNewCustomers } from '../src/domain/sync.js';
import type { Middleware } from '../src/wiring.js';
import { peakPerSecond, startGateway } from '../../bench/gateway.js';
import { captureLogs } from '../../test/support/logs.js';
import { sendJson, serveHandler, waitFor } from '../../test/support/servers.js';
import { BACKENDS, type Backend } from '../../test/support/databases.js';
import {
  closedAfterEach,
  createCustomer,
  listPackages,
  middlewareDatabases,
  middlewareDeps,
  signedEvent,
} from './support.js';

const { upstreams, server } = closedAfterEach();
const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);

type Options = Omit<Parameters<typeof middlewareDeps>[0], 'backend' | 'schema' | 'replicaId'>;

/**
 * Two middleware replicas sharing their state: on PostgreSQL two sets of parts on one schema, as two
 * processes would be; on SQLite, whose file one process owns, that process twice.
 */
async function twoReplicas(backend: Backend, options: Options): Promise<[Middleware, Middleware]> {
  if (backend === 'sqlite') {
    const one = await middlewareDeps({ ...options, backend });
    return [one, one];
  }
  const schema = middlewareDatabases.newSchema();
  const open = (n: number) => middlewareDeps({ ...options, backend, schema, replicaId: `replica-${n}` });
  return [await open(1), await open(2)];
}

describe.each(BACKENDS)('flow control toward the Inventory on %s', (backend) => {
  test(
    'a 503 with Retry-After holds every ask on every replica until then; ' +
      'the customers stay pending and are delivered once after it',
    async () => {
      const { crm, inventory } = await upstreams();
      for (const n of oneTo(5)) await createCustomer(crm.url, `Customer ${n}`);
      const gateway = await server(startGateway(inventory.url));
      const { logger, lines } = captureLogs();
      const [one, two] = await twoReplicas(backend, { crmUrl: crm.url, inventoryUrl: gateway.url, logger });
      const brownout = gateway.brownout(2);

      const held = await syncNewCustomers(one.polling);
      const asked = gateway.requests.length;
      expect(held).toMatchObject({ found: 5, created: 0, held: { reason: 'throttled' } });
      expect(held.failure).toBeUndefined();
      expect(asked).toBeGreaterThan(0);
      expect(asked).toBeLessThanOrEqual(5);
      // The other replica asks nothing while the Retry-After runs, nor does this one again.
      expect(await syncNewCustomers(two.polling)).toMatchObject({ held: { reason: 'throttled' } });
      expect(await syncNewCustomers(one.polling)).toMatchObject({ held: { reason: 'throttled' } });
      expect(gateway.requests).toHaveLength(asked);
      expect((await request(createApp(two).callback()).get('/status')).body).toMatchObject({
        cursor: 0,
        deadLetters: 0,
        failedCycles: 0,
        outage: null,
        throttle: { status: 503, until: expect.any(String) },
      });

      brownout.end();
      await waitFor('the Retry-After to run out', async () => (await two.stores.flow.read()).throttle === null, 5000);
      expect(await syncNewCustomers(two.polling)).toMatchObject({ found: 5, created: 5 });
      expect(sorted((await listPackages(inventory.url)).map((p) => p.customerId))).toEqual(oneTo(5));
      expect(lines.filter((line) => line.level === 'error')).toEqual([]);
      await one.journal.flush();
      const journey = await request(createApp(one).callback()).get('/customers/1/journey');
      expect(journey.body.steps).toContainEqual(
        expect.objectContaining({ kind: 'asked', status: 503, throttledUntil: expect.any(String) }),
      );
    },
  );

  test('while a Retry-After runs, a webhook is answered 503 with the seconds left, and nothing is asked', async () => {
    const { crm, inventory } = await upstreams();
    const gateway = await server(startGateway(inventory.url));
    const deps = await middlewareDeps({ backend, crmUrl: crm.url, inventoryUrl: gateway.url, webhookSecret: secret });
    await deps.stores.flow.throttle(429, 30_000);
    const event = signedEvent(secret, { id: 1, name: 'Alice' });
    const answer = await request(createApp(deps).callback()).post('/webhooks/crm').set(event.headers).send(event.body);
    expect(answer.status).toBe(503);
    expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(29);
    expect(Number(answer.headers['retry-after'])).toBeLessThanOrEqual(30);
    expect(gateway.requests).toEqual([]);
  });

  test('with INVENTORY_RATE_LIMIT, the replicas together send at most that many requests in any second', async () => {
    const { crm, inventory } = await upstreams();
    for (const n of oneTo(40)) await createCustomer(crm.url, `Customer ${n}`);
    const gateway = await server(startGateway(inventory.url));
    const [one, two] = await twoReplicas(backend, {
      crmUrl: crm.url,
      inventoryUrl: gateway.url,
      flow: { ratePerSecond: 20 },
    });
    await Promise.all([syncNewCustomers(one.polling), syncNewCustomers(two.polling)]);
    await waitFor('every package', async () => (await listPackages(inventory.url)).length === 40, 10_000);
    expect(gateway.requests.every((r) => r.status === 201)).toBe(true);
    expect(gateway.requests).toHaveLength(40);
    // Slots are spaced 50 ms apart on the database's clock (the process's own on SQLite).
    expect(peakPerSecond(gateway.requests)).toBeLessThanOrEqual(21);
  });

  test(
    'a run of failures opens the breaker: only one probe at a time reaches the Inventory, ' +
      'nothing is dead-lettered, and the first good answer closes it',
    async () => {
      const { crm, inventory } = await upstreams();
      for (const n of oneTo(3)) await createCustomer(crm.url, `Customer ${n}`);
      let failing = true;
      const asks: number[] = [];
      const flaky = await server(
        serveHandler(async (req, res, body) => {
          asks.push(performance.now());
          if (failing) return sendJson(res, 500, { title: 'Broken' });
          const answer = await fetch(`${inventory.url}${req.url}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
          sendJson(res, answer.status, await answer.json());
        }),
      );
      const deps = await middlewareDeps({
        backend,
        crmUrl: crm.url,
        inventoryUrl: flaky.url,
        concurrency: 1,
        flow: { breakerFailures: 2, probeMs: 300 },
      });
      expect((await syncNewCustomers(deps.polling)).failure).toMatch(/answered 500/);
      expect((await syncNewCustomers(deps.polling)).failure).toMatch(/answered 500/);
      expect((await deps.stores.flow.read()).breaker).toMatchObject({ state: 'open', reason: expect.any(String) });
      const opened = asks.length;

      // Held until the probe is due; then one cycle's first ask is the probe, and it fails again.
      expect(await syncNewCustomers(deps.polling)).toMatchObject({ held: { reason: 'breakerOpen' } });
      expect(asks).toHaveLength(opened);
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect((await syncNewCustomers(deps.polling)).failure).toMatch(/answered 500/);
      // got's one retry after the probe's failure is part of the probe; nothing more went.
      expect(asks.length - opened).toBeLessThanOrEqual(2);
      expect((await deps.stores.flow.read()).breaker.state).toBe('open');

      failing = false;
      await new Promise((resolve) => setTimeout(resolve, 650));
      await syncNewCustomers(deps.polling);
      expect((await deps.stores.flow.read()).breaker).toEqual({
        state: 'closed',
        since: null,
        reason: null,
        nextProbeAt: null,
      });
      await syncNewCustomers(deps.polling);
      expect(sorted((await listPackages(inventory.url)).map((p) => p.customerId))).toEqual(oneTo(3));
      expect(await deps.stores.status.read()).toMatchObject({ deadLetters: 0, cursor: 3 });
    },
  );

  test(
    'POST /delivery/pause holds every replica: webhooks are taken (202) and wait with the cursor; ' +
      'POST /delivery/resume delivers them',
    async () => {
      const { crm, inventory } = await upstreams();
      const gateway = await server(startGateway(inventory.url));
      const key = 'operator-key-0123456789';
      const [one, two] = await twoReplicas(backend, {
        crmUrl: crm.url,
        inventoryUrl: gateway.url,
        webhookSecret: secret,
        apiKeys: [key],
      });
      const http = request(createApp(one).callback());
      expect((await http.post('/delivery/pause').send({ reason: 'maintenance' })).status).toBe(401);
      const paused = await http
        .post('/delivery/pause')
        .set('Authorization', `Bearer ${key}`)
        .send({ reason: 'Inventory maintenance' });
      expect(paused.status).toBe(200);
      expect(paused.body.paused).toEqual({
        by: expect.stringMatching(/^key-[0-9a-f]{8}$/),
        reason: 'Inventory maintenance',
        since: expect.any(String),
        until: null,
      });

      const alice = await createCustomer(crm.url, 'Alice');
      const event = signedEvent(secret, alice);
      const webhook = await request(createApp(two).callback())
        .post('/webhooks/crm')
        .set(event.headers)
        .send(event.body);
      expect(webhook.status).toBe(202);
      expect(webhook.body).toMatchObject({ customerId: alice.id, outcome: 'pending', held: 'paused' });
      expect(await syncNewCustomers(two.polling)).toMatchObject({ found: 1, held: { reason: 'paused' } });
      expect(gateway.requests).toEqual([]);
      const status = await request(createApp(two).callback()).get('/status').set('Authorization', `Bearer ${key}`);
      expect(status.body).toMatchObject({ cursor: 0, paused: { reason: 'Inventory maintenance' } });
      const metrics = await request(createApp(two).callback()).get('/metrics').set('Authorization', `Bearer ${key}`);
      expect(metrics.text).toMatch(/^middleware_delivery_paused\{[^}]*\} 1$/m);

      const resumed = await http.post('/delivery/resume').set('Authorization', `Bearer ${key}`);
      expect(resumed.body.paused).toBeNull();
      expect(await syncNewCustomers(two.polling)).toMatchObject({ found: 1, created: 1 });
      expect(gateway.requests.map((r) => r.customerId)).toEqual([alice.id]);
    },
  );

  test('a pause with an end resumes by itself; one that ends in the past, or with other fields, is a 400', async () => {
    const deps = await middlewareDeps({ backend, crmUrl: 'http://127.0.0.1:9', inventoryUrl: 'http://127.0.0.1:9' });
    const http = request(createApp(deps).callback());
    const past = await http.post('/delivery/pause').send({ until: new Date(Date.now() - 1000).toISOString() });
    expect(past.status).toBe(400);
    expect(past.body.errors).toEqual([{ field: 'until', message: 'must be in the future' }]);
    expect((await http.post('/delivery/pause').send({ by: 'me' })).status).toBe(400);
    expect((await http.post('/delivery/pause').send({ until: 'tomorrow' })).status).toBe(400);
    expect((await http.get('/delivery')).body.paused).toBeNull();

    const until = new Date(Date.now() + 400).toISOString();
    expect((await http.post('/delivery/pause').send({ until })).body.paused).toMatchObject({ by: null, until });
    expect(await deps.stores.flow.check()).toMatchObject({ reason: 'paused' });
    await waitFor('the pause to end', async () => (await http.get('/delivery')).body.paused === null);
    expect(await deps.stores.flow.check()).toBeUndefined();
  });
});
