import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { waitFor } from '../support/servers.js';
import {
  expectExactlyOnePackageEach,
  getAll,
  getJson,
  Platform,
  postJson,
  type Customer,
  type Package,
} from './platform.js';

const secret = `whsec_${Buffer.alloc(24, 8).toString('base64')}`;
let platform: Platform | undefined;
afterEach(async () => {
  await platform?.close();
  platform = undefined;
});

let made = 0;
async function createCustomers(p: Platform, count: number): Promise<Customer[]> {
  const customers: Customer[] = [];
  for (let i = 0; i < count; i++) {
    made += 1;
    const response = await postJson(`${p.crm.url}/customers`, {
      name: `Customer ${made}`,
      email: `reconciled-${made}@example.com`,
    });
    expect(response.status).toBe(201);
    customers.push(response.body as Customer);
  }
  return customers;
}

const cursorAt = (p: Platform, id: number) =>
  waitFor(
    `the middleware's cursor at ${id}`,
    async () => (await getJson(`${p.middleware.url}/status`)).cursor >= id,
    30_000,
  );

/** Starts a reconciliation of every customer up to the cursor and waits for it to end. */
async function reconcile(p: Platform) {
  const started = await fetch(`${p.middleware.url}/reconciliations`, { method: 'POST' });
  expect(started.status).toBe(202);
  const location = `${p.middleware.url}${started.headers.get('location')}`;
  return waitFor(
    'the reconciliation to end',
    async () => {
      const run = await getJson(location);
      return run.status === 'running' ? undefined : run;
    },
    30_000,
  );
}

describe('reconciliation: the built services', () => {
  test(
    'the Inventory restored from an earlier copy of its database: ' +
      'exactly the customers the copy lacks are found and repaired',
    async () => {
      platform = await new Platform({ webhookSecret: secret, pollIntervalMs: 200 }).start();
      const inventoryDb = join(platform.dir, 'inventory.db');
      const copy = join(platform.dir, 'inventory-copy.db');

      const before = await createCustomers(platform, 30);
      await cursorAt(platform, before.at(-1)!.id);
      // The backup: SQLite's online backup of the running Inventory's database.
      const live = new Database(inventoryDb, { readonly: true });
      await live.backup(copy);
      live.close();
      const inCopy = new Set(getAllFrom(copy).map((pkg) => pkg.customerId));

      // More customers; the Inventory goes down in the middle of them and comes back from the copy.
      const after = await createCustomers(platform, 25);
      await cursorAt(platform, after.at(-1)!.id);
      const confirmed = await getAll<Package>(`${platform.inventory.url}/packages`);
      await platform.inventory.kill();
      const duringOutage = await createCustomers(platform, 15);
      copyFileSync(copy, inventoryDb);
      rmSync(`${inventoryDb}-wal`, { force: true });
      rmSync(`${inventoryDb}-shm`, { force: true });
      await platform.inventory.start();
      await cursorAt(platform, duringOutage.at(-1)!.id);

      // In customer-id order, as the walk finds them: the packages were made in the order their deliveries ended.
      const lost = confirmed
        .filter((pkg) => !inCopy.has(pkg.customerId))
        .map((pkg) => pkg.customerId)
        .sort((a, b) => a - b);
      expect(lost.length).toBe(after.length);
      const first = await reconcile(platform);
      expect(first).toMatchObject({
        status: 'done',
        counts: { missing: lost.length, repaired: lost.length, mismatched: 0, orphaned: 0 },
      });
      expect(first.findings.map((finding: { customerId: number }) => finding.customerId)).toEqual(lost);
      expect(
        first.findings.every(
          (finding: { kind: string; repair: string }) => finding.kind === 'missing' && finding.repair === 'created',
        ),
      ).toBe(true);
      await expectExactlyOnePackageEach(platform, 1000);

      const second = await reconcile(platform);
      expect(second).toMatchObject({
        status: 'done',
        counts: { missing: 0, repaired: 0, mismatched: 0, orphaned: 0 },
        findings: [],
      });
    },
  );

  test(
    'a middleware killed in the middle of a reconciliation takes it up again when it starts, ' +
      'and it ends with one package each',
    async () => {
      platform = await new Platform({ pollIntervalMs: 200 }).start();
      const count = 1500;
      for (let start = 0; start < count; start += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, count - start) }, (_, i) =>
            postJson(`${platform!.crm.url}/customers`, {
              name: `Bulk ${start + i}`,
              email: `bulk-${start + i}@example.com`,
            }),
          ),
        );
      }
      await cursorAt(platform, count);
      // The Inventory's table emptied by mistake.
      await platform.inventory.stop();
      const sql = new Database(join(platform.dir, 'inventory.db'));
      sql.prepare('DELETE FROM packages').run();
      sql.close();
      await platform.inventory.start();

      const started = await fetch(`${platform.middleware.url}/reconciliations`, { method: 'POST' });
      const location = `${platform.middleware.url}${started.headers.get('location')}`;
      await waitFor('some repairs saved', async () => (await getJson(location)).counts.repaired > 0, 30_000);
      await platform.middleware.kill();
      const atKill = await getJson(`${platform.inventory.url}/packages?limit=1`);
      expect(atKill.length).toBe(1);
      await platform.middleware.start();

      const run = await waitFor(
        'the reconciliation to end',
        async () => {
          const current = await getJson(location);
          return current.status === 'running' ? undefined : current;
        },
        60_000,
      );
      expect(run).toMatchObject({ status: 'done', progress: { checked: count, total: count } });
      expect(run.counts.repaired).toBeGreaterThan(0);
      expect(
        platform.middleware.logs.some((line) => /^Reconciliation \d+ goes on after id \d+$/.test(line.message)),
      ).toBe(true);
      await expectExactlyOnePackageEach(platform, 1000);
    },
    120_000,
  );

  test('a package renamed by hand and one added for a customer the CRM never had: reported, not changed', async () => {
    platform = await new Platform({ pollIntervalMs: 200 }).start();
    const customers = await createCustomers(platform, 5);
    await cursorAt(platform, customers.at(-1)!.id);
    await platform.inventory.stop();
    const sql = new Database(join(platform.dir, 'inventory.db'));
    sql.prepare('UPDATE packages SET customer_name = ? WHERE customer_id = ?').run('Someone Else', customers[2]!.id);
    sql
      .prepare("INSERT INTO packages (customer_id, customer_name, created_at) VALUES (?, 'Ghost', ?)")
      .run(customers.at(-1)!.id + 1000, new Date().toISOString());
    sql.close();
    await platform.inventory.start();
    const packagesBefore = await getAll<Package>(`${platform.inventory.url}/packages`);

    const run = await reconcile(platform);

    expect(run.counts).toEqual({ missing: 0, mismatched: 1, orphaned: 1, repaired: 0 });
    expect(run.findings).toEqual([
      {
        kind: 'mismatched',
        customerId: customers[2]!.id,
        customerName: customers[2]!.name,
        packageId: expect.any(Number),
        packageCustomerName: 'Someone Else',
      },
      {
        kind: 'orphaned',
        customerId: customers.at(-1)!.id + 1000,
        packageId: expect.any(Number),
        packageCustomerName: 'Ghost',
      },
    ]);
    expect(await getAll<Package>(`${platform.inventory.url}/packages`)).toEqual(packagesBefore);
  });
});

/** The packages in a copy of the Inventory's database, read straight from the file. */
function getAllFrom(file: string): Array<{ customerId: number }> {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT customer_id AS customerId FROM packages').all() as Array<{ customerId: number }>;
  db.close();
  return rows;
}
