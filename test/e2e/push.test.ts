import { afterEach, describe, expect, test } from '@jest/globals';
import { waitFor } from '../support/servers.js';
import { expectExactlyOnePackageEach, getAll, getJson, Platform, postJson, type Customer } from './platform.js';

const secret = `whsec_${Buffer.alloc(24, 6).toString('base64')}`;
let platform: Platform | undefined;
afterEach(async () => {
  await platform?.close();
  platform = undefined;
});

let made = 0;
async function createCustomer(p: Platform): Promise<Customer | undefined> {
  made += 1;
  const response = await postJson(`${p.crm.url}/customers`, {
    name: `Pushed ${made}`,
    email: `pushed-${made}@example.com`,
  });
  return response.status === 201 ? (response.body as Customer) : undefined;
}

/** How many package requests the Inventory answered, by outcome, from its own metrics. */
async function inventoryRequests(p: Platform): Promise<{ created: number; replayed: number }> {
  const metrics = await (await fetch(`${p.inventory.url}/metrics`)).text();
  const count = (outcome: string) =>
    Number(
      new RegExp(`inventory_package_requests_total\\{[^}]*outcome="${outcome}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0,
    );
  return { created: count('created'), replayed: count('replayed') };
}

describe('push: the built services in webhook mode', () => {
  test(
    'each customer is carried by its webhook, with one Inventory request each; ' + 'the poller only moves its cursor',
    async () => {
      platform = await new Platform({ webhookSecret: secret, pollIntervalMs: 1000 }).start();
      const customers: Customer[] = [];
      for (let i = 0; i < 30; i++) customers.push((await createCustomer(platform))!);
      await expectExactlyOnePackageEach(platform);
      await waitFor(
        'the cursor',
        async () => (await getJson(`${platform!.middleware.url}/status`)).cursor === customers.at(-1)!.id,
      );
      expect(await inventoryRequests(platform)).toEqual({ created: 30, replayed: 0 });
      const status = await getJson(`${platform.middleware.url}/status`);
      expect(status.deliveriesByPath.webhook).toBeGreaterThan(0);
      expect(status.deliveriesByPath.webhook + status.deliveriesByPath.poll).toBe(30);
      const messages = await getJson(`${platform.crm.url}/webhook-endpoints/1/messages?limit=1000`);
      expect(messages).toHaveLength(30);
    },
  );

  test(
    'the middleware SIGKILLed while customers keep coming: ' +
      "the CRM's retries and the poller still give each exactly one package",
    async () => {
      platform = await new Platform({ webhookSecret: secret, pollIntervalMs: 200 });
      // Quick retries, then slower ones: about 15 s in all, so that a restart slowed by a busy machine
      // still ends before a message runs out of attempts.
      platform.crm.env.WEBHOOK_RETRY_SCHEDULE_MS = '200,200,200,200,200,500,500,1000,1000,2000,2000,3000,4000';
      await platform.start();
      let producing = true;
      const producer = (async () => {
        while (producing) {
          await createCustomer(platform!);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 700));
      await platform.middleware.kill();
      await new Promise((resolve) => setTimeout(resolve, 800));
      await platform.middleware.start();
      await new Promise((resolve) => setTimeout(resolve, 700));
      producing = false;
      await producer;

      await expectExactlyOnePackageEach(platform);
      const highest = (await getAll<Customer>(`${platform.crm.url}/customers`)).at(-1)!.id;
      await waitFor(
        'the cursor',
        async () => (await getJson(`${platform!.middleware.url}/status`)).cursor === highest,
        30_000,
      );
      await waitFor(
        'every message delivered',
        async () => {
          const messages = await getAll<{ status: string }>(`${platform!.crm.url}/webhook-endpoints/1/messages`);
          return messages.length === highest && messages.every((m) => m.status === 'delivered');
        },
        30_000,
      );
      expect((await getJson(`${platform.middleware.url}/status`)).deadLetters).toBe(0);
    },
    90_000,
  );

  test('long polling carries a customer without waiting for the poll interval', async () => {
    platform = await new Platform({ longPollS: 10, pollIntervalMs: 60_000 }).start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < 3; i++) {
      const customer = (await createCustomer(platform))!;
      await waitFor(
        `customer ${customer.id}'s package`,
        async () => (await getJson(`${platform!.inventory.url}/packages?customerId=${customer.id}`)).length === 1,
        5000,
      );
    }
    expect((await getJson(`${platform.middleware.url}/status`)).deliveriesByPath).toEqual({
      webhook: 0,
      longPoll: 3,
      poll: 0,
    });
  });
});
