import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger } from '@welcome/common';
import { createApp } from '../src/app.js';
import { startHeartbeat } from '../src/domain/heartbeat.js';
import { startPoller } from '../src/domain/poller.js';
import { syncNewCustomers } from '../src/domain/sync.js';
import { REPLICA_SEEN_WITHIN_MS } from '../src/store/status/status-store.js';
import type { Middleware } from '../src/wiring.js';
import { waitFor } from '../../test/support/servers.js';
import {
  closedAfterEach,
  countingInventory,
  createCustomer,
  gatedInventory,
  listPackages,
  middlewareDatabases,
  middlewareDeps,
  signedEvent,
} from './support.js';

const { upstreams, server } = closedAfterEach();
const secret = `whsec_${Buffer.alloc(24, 5).toString('base64')}`;
const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** `count` middleware replicas on one PostgreSQL schema, each with its own app, as separate processes would be. */
async function replicas(count: number, options: { crmUrl: string; inventoryUrl: string; concurrency?: number }) {
  const schema = middlewareDatabases.newSchema();
  const all: Array<{ deps: Middleware; http: ReturnType<typeof request> }> = [];
  for (let n = 1; n <= count; n++) {
    const deps = await middlewareDeps({
      ...options,
      backend: 'postgres',
      schema,
      replicaId: `replica-${n}`,
      webhookSecret: secret,
    });
    all.push({ deps, http: request(createApp(deps).callback()) });
  }
  return all;
}

/** /status without what each replica reads at its own instant. */
const shared = ({ replicas: _replicas, ...status }: Record<string, unknown>) => status;

describe('middleware replicas on one PostgreSQL database', () => {
  test(
    'three replicas polling a backlog together give every customer one package, ' +
      'asking for each once, and share the work',
    async () => {
      const { crm, inventory } = await upstreams();
      const total = 300;
      for (let n = 1; n <= total; n++) await createCustomer(crm.url, `Customer ${n}`);
      const counted = await server(countingInventory(inventory.url, 2));
      const three = await replicas(3, { crmUrl: crm.url, inventoryUrl: counted.url, concurrency: 8 });

      const pollers = three.map(({ deps }) =>
        startPoller({
          intervalMs: 50,
          maxBackoffMs: 500,
          logger: createSilentLogger(),
          cycle: (stop, signal) => syncNewCustomers(deps.polling, stop, signal),
        }),
      );
      try {
        await waitFor(
          'the shared cursor at the last customer',
          async () => (await three[0]!.deps.stores.deliveries.cursor()) === total,
          60_000,
        );
      } finally {
        await Promise.all(pollers.map((poller) => poller.stop()));
      }

      const packages = await listPackages(inventory.url);
      expect(sorted(packages.map((p) => p.customerId))).toEqual(oneTo(total));
      expect(sorted(counted.requests)).toEqual(oneTo(total));
      const shares = three.map(({ deps }) => deps.inventory.asks());
      process.stdout.write(`replicas: asks per replica ${shares.join(' / ')} of ${total}\n`);
      expect(shares.reduce((sum, share) => sum + share, 0)).toBe(total);
      for (const share of shares) expect(share).toBeGreaterThan(0);

      const statuses = await Promise.all(
        three.map(async ({ http }) => (await http.get('/status')).body as Record<string, unknown>),
      );
      expect(statuses[0]).toMatchObject({
        cursor: total,
        created: total,
        alreadyThere: 0,
        deadLetters: 0,
        lag: 0,
        deliveriesByPath: { poll: total },
      });
      expect(statuses.map(shared)).toEqual([shared(statuses[0]!), shared(statuses[0]!), shared(statuses[0]!)]);
    },
    90_000,
  );

  test("a customer a webhook brought to replica 2 is not asked for again by replica 1's poller", async () => {
    const { crm, inventory } = await upstreams();
    const counted = await server(countingInventory(inventory.url));
    const [one, two] = await replicas(2, { crmUrl: crm.url, inventoryUrl: counted.url });
    const alice = await createCustomer(crm.url, 'Alice');
    const bob = await createCustomer(crm.url, 'Bob');
    const event = signedEvent(secret, bob);

    expect((await two!.http.post('/webhooks/crm').set(event.headers).send(event.body)).body).toMatchObject({
      customerId: bob.id,
      outcome: 'created',
    });
    expect(await syncNewCustomers(one!.deps.polling)).toMatchObject({ found: 2, created: 2 });

    expect(counted.requests).toEqual([bob.id, alice.id]);
    expect(await one!.deps.stores.deliveries.cursor()).toBe(bob.id);
    expect((await listPackages(inventory.url)).map((p) => p.customerId)).toEqual([bob.id, alice.id]);
  });

  test(
    "a webhook to one replica racing another's poll for the same customer asks the Inventory once, " +
      'and both tell the outcome',
    async () => {
      const { crm, inventory } = await upstreams();
      const slow = await server(countingInventory(inventory.url, 300));
      const [one, two] = await replicas(2, { crmUrl: crm.url, inventoryUrl: slow.url });
      const alice = await createCustomer(crm.url, 'Alice');
      const event = signedEvent(secret, alice);

      const [pushed, polled] = await Promise.all([
        two!.http.post('/webhooks/crm').set(event.headers).send(event.body),
        syncNewCustomers(one!.deps.polling),
      ]);

      expect(pushed.status).toBe(200);
      expect(pushed.body).toMatchObject({ customerId: alice.id, outcome: 'created', packageId: expect.any(Number) });
      expect(polled).toMatchObject({ found: 1 });
      expect(slow.requests).toEqual([alice.id]);
      // Whichever held the customer, the next cycle at the latest moves the cursor past her.
      await syncNewCustomers(one!.deps.polling);
      expect(await two!.deps.stores.deliveries.cursor()).toBe(alice.id);
      expect(slow.requests).toEqual([alice.id]);
    },
  );

  test(
    'a customer claimed by a replica that died before ' + 'confirming it is delivered by another once the lease ends',
    async () => {
      const { crm, inventory } = await upstreams();
      const counted = await server(countingInventory(inventory.url));
      const [alive] = await replicas(1, { crmUrl: crm.url, inventoryUrl: counted.url });
      const [alice, bob, carol] = [
        await createCustomer(crm.url, 'Alice'),
        await createCustomer(crm.url, 'Bob'),
        await createCustomer(crm.url, 'Carol'),
      ];
      const leaseMs = 1500;
      expect(await alive!.deps.stores.deliveries.claim(bob.id, 'a-replica-now-dead', new Date(), leaseMs)).toEqual({
        state: 'claimed',
      });

      // While the lease runs, the others go ahead, and the cursor waits before the one held.
      expect(await syncNewCustomers(alive!.deps.polling)).toMatchObject({ found: 3, created: 2 });
      expect(sorted(counted.requests)).toEqual([alice.id, carol.id]);
      expect(await alive!.deps.stores.deliveries.cursor()).toBe(alice.id);

      await waitFor('the dead replica’s lease to end and Bob to be delivered', async () => {
        await syncNewCustomers(alive!.deps.polling);
        return (await alive!.deps.stores.deliveries.cursor()) === carol.id;
      });
      expect(sorted(counted.requests)).toEqual([alice.id, bob.id, carol.id]);
      expect(sorted((await listPackages(inventory.url)).map((p) => p.customerId))).toEqual([
        alice.id,
        bob.id,
        carol.id,
      ]);
    },
  );

  test('/status on every replica lists the replicas whose heartbeat is less than a minute old', async () => {
    const { crm, inventory } = await upstreams();
    const three = await replicas(3, { crmUrl: crm.url, inventoryUrl: inventory.url });
    const started = new Date();
    await three[0]!.deps.stores.status.heartbeat(
      { id: 'replica-gone', startedAt: started.toISOString() },
      new Date(Date.now() - REPLICA_SEEN_WITHIN_MS - 1000),
    );
    const heartbeats = three.map(({ deps }) => startHeartbeat(deps.heartbeat));
    try {
      const ids = async (http: ReturnType<typeof request>) =>
        ((await http.get('/status')).body.replicas as Array<{ id: string }>).map((r) => r.id);
      await waitFor('every heartbeat written', async () => (await ids(three[0]!.http)).length === 3);
      for (const { http } of three) expect(await ids(http)).toEqual(['replica-1', 'replica-2', 'replica-3']);
      expect((await three[1]!.http.get('/status')).body.replicas[0]).toEqual({
        id: 'replica-1',
        startedAt: three[0]!.deps.replica.startedAt,
        lastSeenAt: expect.any(String),
      });
    } finally {
      await Promise.all(heartbeats.map((heartbeat) => heartbeat.stop()));
    }
  });

  test('a dead letter one replica recorded is listed by another and replayed by a third', async () => {
    const { crm, inventory } = await upstreams();
    let refusing = true;
    const gate = await server(gatedInventory(inventory.url, () => (refusing ? 422 : undefined)));
    const [one, two, three] = await replicas(3, { crmUrl: crm.url, inventoryUrl: gate.url });
    const alice = await createCustomer(crm.url, 'Alice');
    expect(await syncNewCustomers(one!.deps.polling)).toMatchObject({ deadLettered: 1 });

    expect((await two!.http.get('/dead-letters')).body).toEqual([
      expect.objectContaining({ id: 1, customerId: alice.id, status: 422, attempts: 1 }),
    ]);
    refusing = false;
    const replayed = await three!.http.post('/dead-letters/1/replay');
    expect(replayed.status).toBe(200);
    expect(replayed.body).toEqual({ id: 1, customerId: alice.id, outcome: 'created', packageId: 1 });
    expect((await one!.http.get('/dead-letters')).body).toEqual([]);
    expect((await two!.http.get('/status')).body).toMatchObject({ cursor: alice.id, created: 1, deadLetters: 0 });
  });

  test(
    'two replicas replaying the same dead letter at once ask the Inventory once: ' + 'the second finds it delivered',
    async () => {
      const { crm, inventory } = await upstreams();
      let refusing = true;
      const asked: number[] = [];
      const gate = await server(
        gatedInventory(
          inventory.url,
          ({ customerId }) => {
            asked.push(customerId);
            return refusing ? 422 : undefined;
          },
          200,
        ),
      );
      const [one, two] = await replicas(2, { crmUrl: crm.url, inventoryUrl: gate.url });
      await createCustomer(crm.url, 'Alice');
      await syncNewCustomers(one!.deps.polling);
      refusing = false;
      asked.length = 0;

      const answers = await Promise.all([
        one!.http.post('/dead-letters/1/replay'),
        two!.http.post('/dead-letters/1/replay'),
      ]);

      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 404]);
      expect(answers.find((answer) => answer.status === 200)?.body).toMatchObject({ outcome: 'created' });
      expect(asked).toEqual([1]);
    },
  );
});
