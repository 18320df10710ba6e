import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { waitFor } from '../support/servers.js';
import { SmallDisk } from '../support/small-disk.js';
import {
  expectExactlyOnePackageEach,
  getAll,
  getJson,
  Platform,
  postJson,
  type Customer,
  type ServiceName,
} from './platform.js';

// Each service's database on a real disk of its own, a few MiB of tmpfs, filled to the last byte
// and freed again while the built services run. Needs root to mount; said and skipped otherwise.
const disks = new Map<ServiceName, SmallDisk>();
let skipped: string | undefined;
for (const service of ['crm', 'inventory', 'middleware'] as const) {
  const disk = skipped ? undefined : SmallDisk.mount(8);
  if (typeof disk === 'string') skipped = disk;
  else if (disk) disks.set(service, disk);
}
if (skipped) process.stdout.write(`full-disk tests skipped: ${skipped}\n`);
const whenMounted = skipped ? test.skip : test;

let platform: Platform;
beforeAll(async () => {
  if (skipped) return;
  platform = await new Platform({
    dataDirs: Object.fromEntries([...disks].map(([service, disk]) => [service, disk.dir])),
  }).start();
});

afterAll(async () => {
  await platform?.close();
  for (const disk of disks.values()) disk.unmount();
});

let made = 0;
async function postCustomer(): Promise<{ status: number; body: unknown; name: string }> {
  made += 1;
  const name = `Disk ${made}`;
  return { ...(await postJson(`${platform.crm.url}/customers`, { name, email: `disk-${made}@example.com` })), name };
}

/** Every customer delivered, the cursor at the end, and exactly one package each. */
async function deliveredEach(): Promise<void> {
  const highest = (await getAll<Customer>(`${platform.crm.url}/customers`)).at(-1)?.id;
  await waitFor(
    'every customer delivered',
    async () => (await getJson(`${platform.middleware.url}/status`)).cursor === highest,
    30_000,
  );
  await expectExactlyOnePackageEach(platform);
}

const saidOnce = (service: ServiceName) =>
  platform[service].logs
    .filter((line) => line.level !== 'debug' && /^The disk under/.test(line.message))
    .map((line) => line.level);

describe('a full disk under each service, on a real file system', () => {
  whenMounted(
    'the CRM answers 507 instead of acknowledging a customer it cannot store, and every 201 it gave is kept',
    async () => {
      disks.get('crm')!.fill();
      const acknowledged = new Map<number, string>();
      let refused: Awaited<ReturnType<typeof postCustomer>> | undefined;
      for (let i = 0; i < 2000 && !refused; i++) {
        const response = await postCustomer();
        if (response.status === 201) {
          const { id } = response.body as Customer;
          expect(acknowledged.has(id)).toBe(false);
          acknowledged.set(id, response.name);
        } else refused = response;
      }
      expect(refused).toMatchObject({ status: 507, body: { type: '/problems/insufficient-storage' } });
      for (let i = 0; i < 20; i++) expect((await postCustomer()).status).toBe(507);
      const ready = await fetch(`${platform.crm.url}/ready`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toMatch(/storage/);

      disks.get('crm')!.free();
      expect((await postCustomer()).status).toBe(201);
      expect((await fetch(`${platform.crm.url}/ready`)).status).toBe(200);
      const stored = new Map((await getAll<Customer>(`${platform.crm.url}/customers`)).map((c) => [c.id, c.name]));
      for (const [id, name] of acknowledged) expect(stored.get(id)).toBe(name);
      expect(saidOnce('crm')).toEqual(['error', 'info']);
      await deliveredEach();
    },
    120_000,
  );

  whenMounted(
    'the Inventory answers 507 while its disk is full; the middleware waits it out and delivers each customer once',
    async () => {
      disks.get('inventory')!.fill();
      for (let i = 0; i < 30; i++) expect((await postCustomer()).status).toBe(201);
      await waitFor(
        'the Inventory to refuse for lack of space',
        async () => (await fetch(`${platform.inventory.url}/ready`)).status === 503,
      );
      await waitFor(
        'the middleware to see an outage',
        async () => (await getJson(`${platform.middleware.url}/status`)).outage !== null,
      );

      disks.get('inventory')!.free();
      await deliveredEach();
      expect((await fetch(`${platform.inventory.url}/ready`)).status).toBe(200);
      expect(saidOnce('inventory')).toEqual(['error', 'info']);
    },
    120_000,
  );

  whenMounted(
    "the middleware's own disk full stops its cycles without moving the cursor; each customer still gets one package",
    async () => {
      disks.get('middleware')!.fill();
      for (let i = 0; i < 200; i++) expect((await postCustomer()).status).toBe(201);
      await waitFor('the middleware to say its disk is full', () => saidOnce('middleware').length > 0);
      const ready = await fetch(`${platform.middleware.url}/ready`);
      expect(ready.status).toBe(503);

      disks.get('middleware')!.free();
      await deliveredEach();
      expect(saidOnce('middleware')).toEqual(['error', 'info']);
      expect(platform.middleware.stderr.join('')).toBe('');
    },
    120_000,
  );
});
