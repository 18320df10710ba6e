import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { waitFor } from '../support/servers.js';
import {
  expectExactlyOnePackageEach,
  getAll,
  getJson,
  Platform,
  postJson,
  ROOT,
  type Customer,
  type Package,
} from './platform.js';

let platform: Platform | undefined;
afterEach(async () => {
  await platform?.close();
  platform = undefined;
});

async function createCustomers(crmUrl: string, count: number, prefix: string): Promise<Customer[]> {
  const made: Customer[] = [];
  for (let i = 1; i <= count; i++) {
    const response = await postJson(`${crmUrl}/customers`, {
      name: `${prefix} ${i}`,
      email: `${prefix.toLowerCase()}-${i}@example.com`,
    });
    expect(response.status).toBe(201);
    made.push(response.body as Customer);
  }
  return made;
}

async function allDelivered(p: Platform, expected: number): Promise<boolean> {
  const status = await getJson(`${p.middleware.url}/status`);
  return status.cursor === expected;
}

describe('the platform, run as a user runs it', () => {
  test("the README's flow: POST Alice to the CRM, and her welcome package appears in the Inventory", async () => {
    platform = await new Platform().start();
    const alice = await postJson(`${platform.crm.url}/customers`, { name: 'Alice', email: 'alice@example.com' });
    expect(alice.status).toBe(201);

    const packages = await waitFor("Alice's package", async () => {
      const list = (await getJson(`${platform!.inventory.url}/packages?customerId=${alice.body.id}`)) as Package[];
      return list.length > 0 && list;
    });

    expect(packages).toEqual([
      expect.objectContaining({ customerId: alice.body.id, customerName: 'Alice', status: 'Pending' }),
    ]);
    expect(await getJson(`${platform.middleware.url}/status`)).toMatchObject({
      cursor: alice.body.id,
      created: 1,
      deadLetters: 0,
    });
    expect(platform.middleware.logs).toContainEqual(
      expect.objectContaining({
        message: expect.stringMatching(/^Welcome package \d+ created for customer 1$/),
        customerId: 1,
        customerName: 'Alice',
      }),
    );
  });

  test(
    'the middleware killed with SIGKILL in the middle of a batch ' + 'still gives every customer exactly one package',
    async () => {
      platform = await new Platform().start({ middleware: false });
      const total = 400;
      await createCustomers(platform.crm.url, total, 'Batch');
      await platform.middleware.start();

      await waitFor(
        'the batch to be under way',
        async () => (await getJson(`${platform!.inventory.url}/packages?after=40&limit=1`)).length > 0,
      );
      await platform.middleware.kill();
      const deliveredBeforeKill = (await getAll<Package>(`${platform.inventory.url}/packages`)).length;
      expect(deliveredBeforeKill).toBeLessThan(total);

      await platform.middleware.start();
      await waitFor('every customer to be delivered', () => allDelivered(platform!, total), 60_000);

      await expectExactlyOnePackageEach(platform);
      const status = await getJson(`${platform.middleware.url}/status`);
      expect(status.created + status.alreadyThere).toBeGreaterThanOrEqual(total - deliveredBeforeKill);
      expect(status.deadLetters).toBe(0);
    },
  );

  test('the Inventory down for a while delays packages but loses none', async () => {
    platform = await new Platform().start();
    await createCustomers(platform.crm.url, 3, 'Before');
    await waitFor('the first customers', () => allDelivered(platform!, 3));

    await platform.inventory.kill();
    await createCustomers(platform.crm.url, 5, 'During');
    await waitFor(
      'a failed cycle',
      async () => (await getJson(`${platform!.middleware.url}/status`)).failedCycles >= 2,
    );
    expect(await getJson(`${platform.middleware.url}/status`)).toMatchObject({
      cursor: 3,
      outage: {
        upstream: 'Inventory',
        since: expect.any(String),
        lastError: expect.stringMatching(/^Inventory unavailable/),
      },
    });

    await platform.inventory.start();
    await waitFor('the backlog to drain', () => allDelivered(platform!, 8));

    await expectExactlyOnePackageEach(platform);
    const said = (pattern: RegExp) => platform!.middleware.logs.filter((line) => pattern.test(line.message));
    expect(said(/Outage began/)).toEqual([
      expect.objectContaining({ level: 'error', upstream: 'Inventory', cursor: 3 }),
    ]);
    expect(said(/outage over/)).toEqual([expect.objectContaining({ level: 'info', upstream: 'Inventory' })]);
    expect((await getJson(`${platform.middleware.url}/status`)).outage).toBeNull();
  });

  test('customers the CRM acknowledged survive a SIGKILL of the CRM', async () => {
    platform = await new Platform().start({ middleware: false });
    const made = await createCustomers(platform.crm.url, 20, 'Durable');
    await platform.crm.restart();
    expect(await getAll<Customer>(`${platform.crm.url}/customers`)).toEqual(made);
  });

  test('SIGTERM finishes cleanly with exit 0 and the cursor saved; a restart resumes from it', async () => {
    platform = await new Platform().start();
    await createCustomers(platform.crm.url, 3, 'Term');
    await waitFor('delivery', () => allDelivered(platform!, 3));

    expect(await platform.middleware.stop()).toBe(0);
    expect(platform.middleware.logs).toContainEqual(
      expect.objectContaining({ message: 'Cursor saved at 3', cursor: 3 }),
    );

    await platform.middleware.start();
    await createCustomers(platform.crm.url, 1, 'After');
    await waitFor('the new customer', () => allDelivered(platform!, 4));
    expect(await getJson(`${platform.middleware.url}/status`)).toMatchObject({ created: 4, alreadyThere: 0 });
    await expectExactlyOnePackageEach(platform);
  });

  test.each(['crm', 'inventory', 'middleware'])(
    '%s stops at start on a bad setting, with one line naming it and no stack',
    (service) => {
      const result = spawnSync(process.execPath, [join(ROOT, service, 'dist/index.js')], {
        env: { PATH: process.env.PATH, PORT: 'abc', LOG_LEVEL: 'loud' },
        encoding: 'utf8',
        timeout: 10_000,
      });
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([
        `${service}: configuration error: PORT="abc" is not valid: expected a whole number from 0 to 65535`,
        `${service}: configuration error: LOG_LEVEL="loud" is not valid: ` +
          'expected one of error, warn, info, http, verbose, debug, silly',
      ]);
    },
  );
});
