import { describe, expect, test } from '@jest/globals';
import seedrandom from 'seedrandom';
import { syncNewCustomers } from '../src/domain/sync.js';
import { sendJson, serveHandler } from '../../test/support/servers.js';
import { closedAfterEach, createCustomer, listPackages, middlewareDeps, sqliteOf } from './support.js';
import { failCommitsOn } from '../../test/storage/faults.js';
import { BACKENDS } from '../../test/support/databases.js';

const { upstreams, server } = closedAfterEach();

describe.each(BACKENDS)('concurrent delivery on %s', (backend) => {
  test(
    'with answers out of order and some customers failing, ' + 'the cursor never passes a customer not yet handled',
    async () => {
      const { crm, inventory } = await upstreams();
      const total = 120;
      for (let i = 1; i <= total; i++) await createCustomer(crm.url, `Customer ${i}`);
      const random = seedrandom('concurrent-delivery');
      // In front of the real Inventory: every answer after a random delay (so they come back out of
      // order), a 503 now and then (an outage: the cycle stops), and a 422 for every 17th customer.
      const flaky = await server(
        serveHandler(async (_req, res, body) => {
          const { customerId } = JSON.parse(body) as { customerId: number };
          await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 30)));
          if (customerId % 17 === 0) return sendJson(res, 422, { title: 'Refused by the test', status: 422 });
          if (random() < 0.05) return sendJson(res, 503, { title: 'Unavailable', status: 503 });
          const answer = await fetch(`${inventory.url}/packages`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body,
          });
          sendJson(res, answer.status, await answer.json());
        }),
      );
      const deps = await middlewareDeps({
        backend,
        crmUrl: crm.url,
        inventoryUrl: flaky.url,
        concurrency: 8,
        retryDelayMs: 1,
      });

      for (let cycle = 1; cycle <= 100 && (await deps.stores.deliveries.cursor()) < total; cycle++) {
        await syncNewCustomers(deps.polling);
        // Everyone up to the cursor has a package or a dead letter.
        const cursor = await deps.stores.deliveries.cursor();
        const packaged = new Set((await listPackages(inventory.url)).map((p) => p.customerId));
        const lettered = new Set((await deps.stores.deadLetters.list(0, 1000)).map((letter) => letter.customerId));
        const skipped = Array.from({ length: cursor }, (_, i) => i + 1).filter(
          (id) => !packaged.has(id) && !lettered.has(id),
        );
        expect({ cycle, cursor, skipped }).toEqual({ cycle, cursor, skipped: [] });
      }
      expect(await deps.stores.deliveries.cursor()).toBe(total);
      const packages = await listPackages(inventory.url);
      expect(packages).toHaveLength(total - Math.floor(total / 17));
      expect(new Set(packages.map((p) => p.customerId)).size).toBe(packages.length);
      expect((await deps.stores.status.read()).deadLetters).toBe(Math.floor(total / 17));
    },
    60_000,
  );
});

describe('concurrent delivery on SQLite only', () => {
  test('confirmations asked for in the same turn share one commit: when it fails, none of them is stored', async () => {
    const deps = await middlewareDeps({ crmUrl: 'http://127.0.0.1:9', inventoryUrl: 'http://127.0.0.1:9' });
    const confirmAll = (ids: number[]) =>
      Promise.allSettled(
        ids.map((id) =>
          deps.stores.deliveries.confirm(
            { customerId: id, customerName: `C${id}`, packageId: id, outcome: 'created' },
            new Date(),
            'poll',
          ),
        ),
      );

    const breaker = failCommitsOn(sqliteOf(deps), 'confirmed');
    const refused = await confirmAll([3, 4, 5, 6]);
    expect(refused.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(await deps.stores.status.read()).toMatchObject({ created: 0, cursor: 0 });

    breaker.heal();
    const accepted = await confirmAll([1, 2, 3, 4]);
    expect(accepted.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    // Confirmed 1 to 4, right after the cursor: it moves over all of them.
    expect(await deps.stores.status.read()).toMatchObject({ created: 4, cursor: 4 });
  });
});
