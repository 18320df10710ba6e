import { describe, expect, test } from '@jest/globals';
import { startPoller } from '../src/domain/poller.js';
import { syncNewCustomers } from '../src/domain/sync.js';
import { closedAfterEach, createCustomer, listPackages, middlewareDeps } from './support.js';
import { waitFor } from '../../test/support/servers.js';

const { upstreams } = closedAfterEach();

describe('LONG_POLL_S', () => {
  test('a cycle waits at the CRM for the next customer and delivers it the moment it is committed', async () => {
    const { crm, inventory } = await upstreams();
    const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: inventory.url, longPollS: 10 });
    let done = false;
    const cycle = syncNewCustomers(deps.polling).then((report) => {
      done = true;
      return report;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);
    const alice = await createCustomer(crm.url, 'Alice');
    expect(await cycle).toMatchObject({ found: 1, created: 1 });
    expect(await deps.stores.status.read()).toMatchObject({
      cursor: alice.id,
      deliveriesByPath: { webhook: 0, longPoll: 1, poll: 0 },
    });
  });

  test(
    'the poller starts the next long poll as soon as one ends, ' +
      'and stopping cuts a held one short without an outage',
    async () => {
      const { crm, inventory } = await upstreams();
      const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: inventory.url, longPollS: 30 });
      const poller = startPoller({
        intervalMs: 60_000,
        maxBackoffMs: 60_000,
        longPoll: true,
        logger: deps.logger,
        cycle: (shouldStop, signal) => syncNewCustomers(deps.polling, shouldStop, signal),
      });
      for (const name of ['Alice', 'Bob', 'Carol']) {
        const customer = await createCustomer(crm.url, name);
        // Each arrives well within the 60 s poll interval: long polls, one after another.
        await waitFor(
          `${name}'s package`,
          async () => (await listPackages(inventory.url)).some((p) => p.customerId === customer.id),
          5000,
        );
      }
      const stopping = Date.now();
      await poller.stop();
      expect(Date.now() - stopping).toBeLessThan(2000);
      expect(await deps.stores.status.read()).toMatchObject({ cursor: 3, failedCycles: 0, outage: null });
    },
  );
});
