import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger, openSqlite, sqliteDatabase } from '@welcome/common';
import { createApp } from '../src/app.js';
import type { PackageStore } from '../src/store/packages/package-store.js';
import { inventorySchema } from '../src/store/schema.js';
import { createInventoryStores } from '../src/store/stores.js';
import { failCommitsOn } from '../../test/storage/faults.js';
import { BACKENDS, testDatabases, type Backend } from '../../test/support/databases.js';

const databases = testDatabases('inventory', inventorySchema);

async function inventory(backend: Backend) {
  const app = createApp({ database: await databases.open(backend), logger: createSilentLogger() });
  return request(app.callback());
}

type Http = Awaited<ReturnType<typeof inventory>>;
const post = (http: Http, body: unknown) =>
  http.post('/packages').set('Content-Type', 'application/json').send(JSON.stringify(body));
const ids = (body: Array<{ id: number }>) => body.map((p) => p.id);
const customerIds = (body: Array<{ customerId: number }>) => body.map((p) => p.customerId);
const ask = (packages: PackageStore, customerId: number, customerName: string) =>
  packages.findOrInsert({ customerId, customerName, createdAt: new Date().toISOString() });

describe.each(BACKENDS)('the Inventory on %s', (backend) => {
  describe('POST /packages', () => {
    test('creates the welcome package of a customer who has none: 201, Pending', async () => {
      const http = await inventory(backend);
      const response = await post(http, { customerId: 7, customerName: 'Alice' });
      expect(response.status).toBe(201);
      expect(response.body).toEqual({
        id: 1,
        customerId: 7,
        customerName: 'Alice',
        status: 'Pending',
        createdAt: expect.any(String),
      });
      expect(response.headers.location).toBe('/packages/1');
    });

    test(
      'answers a repeat for the same customer and name ' + 'with 200 and the same package, storing nothing new',
      async () => {
        const http = await inventory(backend);
        const first = await post(http, { customerId: 7, customerName: 'Alice' });
        const again = await post(http, { customerId: 7, customerName: '  Alice ' });
        expect(again.status).toBe(200);
        expect(again.body).toEqual(first.body);
        expect((await http.get('/packages')).body).toHaveLength(1);
      },
    );

    test('refuses the same customer under another name with 409, keeping the first package', async () => {
      const http = await inventory(backend);
      const first = await post(http, { customerId: 7, customerName: 'Alice' });
      const other = await post(http, { customerId: 7, customerName: 'Mallory' });
      expect(other.status).toBe(409);
      expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(other.body).toMatchObject({ type: '/problems/customer-has-package', status: 409 });
      expect((await http.get('/packages')).body).toEqual([first.body]);
    });

    test('gives each customer their own package', async () => {
      const http = await inventory(backend);
      await post(http, { customerId: 1, customerName: 'Alice' });
      const bob = await post(http, { customerId: 2, customerName: 'Alice' });
      expect(bob.status).toBe(201);
      expect(bob.body.id).toBe(2);
    });

    test.each([
      ['missing', {}, 'is required'],
      ['zero', { customerId: 0 }, 'must be positive'],
      ['negative', { customerId: -3 }, 'must be positive'],
      ['a fraction', { customerId: 1.5 }, 'must be a whole number'],
      ['a string', { customerId: '1' }, 'must be a number'],
      ['beyond the safe integers', { customerId: 2 ** 53 }, 'must be a whole number'],
    ])('refuses a customerId that is %s', async (_, body, message) => {
      const http = await inventory(backend);
      const response = await post(http, { customerName: 'Alice', ...body });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: 'customerId', message }]);
      expect((await http.get('/packages')).body).toEqual([]);
    });

    test.each([
      ['missing', undefined, 'is required'],
      ['empty after trimming', '  ', 'must not be empty'],
      ['too long', 'x'.repeat(201), 'must be at most 200 characters'],
      ['not a string', ['Alice'], 'must be a string'],
    ])('refuses a customerName that is %s', async (_, customerName, message) => {
      const http = await inventory(backend);
      const response = await post(http, { customerId: 1, customerName });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: 'customerName', message }]);
    });

    test('refuses the fields a client never chooses, naming each', async () => {
      const http = await inventory(backend);
      const response = await post(http, { customerId: 1, customerName: 'A', id: 9, status: 'Shipped' });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([
        { field: 'id', message: 'is not an accepted field' },
        { field: 'status', message: 'is not an accepted field' },
      ]);
      expect((await http.get('/packages')).body).toEqual([]);
    });
  });

  describe('GET /packages', () => {
    async function withPackages(http: Http, customerIds: number[]) {
      for (const customerId of customerIds) await post(http, { customerId, customerName: `C${customerId}` });
    }

    test('filters by customerId', async () => {
      const http = await inventory(backend);
      await withPackages(http, [5, 6, 7]);
      const response = await http.get('/packages?customerId=6');
      expect(response.body).toEqual([expect.objectContaining({ id: 2, customerId: 6 })]);
      expect((await http.get('/packages?customerId=99')).body).toEqual([]);
    });

    test('pages by id, keeping the filter in the next Link', async () => {
      const http = await inventory(backend);
      await withPackages(http, [1, 2, 3]);
      const first = await http.get('/packages?limit=2');
      expect(ids(first.body)).toEqual([1, 2]);
      expect(first.headers.link).toBe('</packages?after=2&limit=2>; rel="next"');
      expect(ids((await http.get('/packages?after=2&limit=2')).body)).toEqual([3]);
      const filtered = await http.get('/packages?customerId=1&limit=1');
      expect(filtered.headers.link).toBeUndefined();
    });

    test('orders by customer id on request, whatever order the packages were made in', async () => {
      const http = await inventory(backend);
      await withPackages(http, [30, 10, 40, 20]);
      const response = await http.get('/packages?orderBy=customerId');
      expect(response.status).toBe(200);
      expect(customerIds(response.body)).toEqual([10, 20, 30, 40]);
      expect(ids(response.body)).toEqual([2, 4, 1, 3]);
      expect(response.headers.link).toBeUndefined();
    });

    test('pages by customer id: the next Link carries the last customerId, following it gives the rest', async () => {
      const http = await inventory(backend);
      await withPackages(http, [30, 10, 50, 40, 20]);
      const first = await http.get('/packages?orderBy=customerId&limit=2');
      expect(customerIds(first.body)).toEqual([10, 20]);
      expect(first.headers.link).toBe('</packages?orderBy=customerId&after=20&limit=2>; rel="next"');
      const second = await http.get('/packages?orderBy=customerId&after=20&limit=2');
      expect(customerIds(second.body)).toEqual([30, 40]);
      expect(second.headers.link).toBe('</packages?orderBy=customerId&after=40&limit=2>; rel="next"');
      const last = await http.get('/packages?orderBy=customerId&after=40&limit=2');
      expect(customerIds(last.body)).toEqual([50]);
      expect(last.headers.link).toBeUndefined();
    });

    test('keeps the customerId filter under the customer-id order', async () => {
      const http = await inventory(backend);
      await withPackages(http, [3, 1, 2]);
      // Package 1 is customer 3's and package 2 customer 1's: `after` is a customer id here, not a package id.
      expect(customerIds((await http.get('/packages?orderBy=customerId&customerId=3&after=1')).body)).toEqual([3]);
      expect((await http.get('/packages?orderBy=customerId&customerId=1&after=1')).body).toEqual([]);
      expect((await http.get('/packages?orderBy=customerId&customerId=99')).body).toEqual([]);
    });

    test('orderBy=id answers exactly what no orderBy does', async () => {
      const http = await inventory(backend);
      await withPackages(http, [30, 10, 20]);
      const byDefault = await http.get('/packages?limit=2');
      const byId = await http.get('/packages?orderBy=id&limit=2');
      expect(byId.body).toEqual(byDefault.body);
      expect(ids(byId.body)).toEqual([1, 2]);
      expect(byId.headers.link).toBe('</packages?orderBy=id&after=2&limit=2>; rel="next"');
      expect(ids((await http.get('/packages?orderBy=id&after=2&limit=2')).body)).toEqual([3]);
    });

    test.each([
      ['an unknown order', 'orderBy=name', 'must be one of id, customerId'],
      ['an empty order', 'orderBy=', 'must be one of id, customerId'],
      ['an order given twice', 'orderBy=id&orderBy=customerId', 'must be given once'],
    ])('refuses %s with a 400 problem naming orderBy', async (_, query, message) => {
      const response = await (await inventory(backend)).get(`/packages?${query}`);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body).toMatchObject({ type: '/problems/validation-failed', status: 400 });
      expect(response.body.errors).toEqual([{ field: 'orderBy', message }]);
    });

    test('names a bad orderBy together with a bad limit', async () => {
      const response = await (await inventory(backend)).get('/packages?orderBy=name&limit=0');
      expect(response.status).toBe(400);
      expect(response.body.errors.map((error: { field: string }) => error.field).sort()).toEqual(['limit', 'orderBy']);
    });

    test.each(['customerId=abc', 'customerId=0', 'limit=0', 'after=x'])('answers 400 for %s', async (query) => {
      const response = await (await inventory(backend)).get(`/packages?${query}`);
      expect(response.status).toBe(400);
      expect(response.body.type).toBe('/problems/validation-failed');
    });

    test('GET /packages/:id answers the package, 404 for none, 400 for a bad id', async () => {
      const http = await inventory(backend);
      await withPackages(http, [4]);
      expect((await http.get('/packages/1')).body).toMatchObject({ id: 1, customerId: 4 });
      expect((await http.get('/packages/2')).status).toBe(404);
      expect((await http.get('/packages/x')).status).toBe(400);
    });
  });

  test('the store lists by customer id: above `after`, at most `limit`, of one customer if told', async () => {
    const packages = createInventoryStores(await databases.open(backend)).packages;
    for (const customerId of [30, 10, 50, 40, 20]) await ask(packages, customerId, `C${customerId}`);
    const listed = async (after: number, limit: number, customerId?: number) =>
      customerIds(await packages.listAfterCustomerId(after, limit, customerId));
    expect(await listed(0, 10)).toEqual([10, 20, 30, 40, 50]);
    expect(await listed(0, 2)).toEqual([10, 20]);
    expect(await listed(20, 2)).toEqual([30, 40]);
    expect(await listed(25, 10)).toEqual([30, 40, 50]);
    expect(await listed(50, 10)).toEqual([]);
    expect(await listed(0, 10, 40)).toEqual([40]);
    expect(await listed(40, 10, 40)).toEqual([]);
    expect(await packages.listAfterCustomerId(20, 1)).toEqual([
      { id: 1, customerId: 30, customerName: 'C30', status: 'Pending', createdAt: expect.any(String) },
    ]);
  });

  test(
    'requests for one customer that arrive together make one package: ' +
      'one is told it was created, the others find it',
    async () => {
      const packages = createInventoryStores(await databases.open(backend)).packages;
      const answers = await Promise.all([
        ask(packages, 1, 'Alice'),
        ask(packages, 2, 'Bob'),
        ask(packages, 1, 'Alice'),
        ask(packages, 3, 'Carol'),
      ]);
      const alice = answers.filter((answer) => answer.pkg.customerId === 1);
      expect(alice.map((answer) => answer.created).sort()).toEqual([false, true]);
      expect(alice[0]!.pkg).toEqual(alice[1]!.pkg);
      expect(answers.filter((answer) => answer.created)).toHaveLength(3);
      expect(await packages.listAfter(0, 10)).toHaveLength(3);
    },
  );
});

describe('the Inventory on a SQLite file', () => {
  const store = () => {
    const db = openSqlite(':memory:', inventorySchema.sqlite);
    return { db, store: createInventoryStores(sqliteDatabase(db, createSilentLogger())).packages };
  };

  test('commits requests that arrive together in one transaction, in arrival order', async () => {
    const { store: packages } = store();
    const answers = await Promise.all([
      ask(packages, 1, 'Alice'),
      ask(packages, 2, 'Bob'),
      ask(packages, 1, 'Alice'),
      ask(packages, 3, 'Carol'),
    ]);
    expect(answers.map((a) => [a.created, a.pkg.id, a.pkg.customerId])).toEqual([
      [true, 1, 1],
      [true, 2, 2],
      [false, 1, 1],
      [true, 3, 3],
    ]);
  });

  test(
    'writes requests that arrive together to disk in one commit: ' +
      'twenty at once add a handful of pages to the write-ahead log, not twenty commits’ worth',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'inventory-'));
      try {
        const db = openSqlite(join(dir, 'inventory.db'), inventorySchema.sqlite);
        const packages = createInventoryStores(sqliteDatabase(db, createSilentLogger())).packages;
        await ask(packages, 1000, 'Warm-up');
        const frames = () =>
          (statSync(join(dir, 'inventory.db-wal')).size - 32) /
          ((db.pragma('page_size', { simple: true }) as number) + 24);
        const before = frames();
        await Promise.all(Array.from({ length: 20 }, (_, i) => ask(packages, i + 1, `Customer ${i + 1}`)));
        // Each commit appends every page it changed (the table's and the index's leaves at least).
        expect(frames() - before).toBeLessThan(10);
        expect(await packages.listAfter(0, 100)).toHaveLength(21);
        db.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test('refuses requests that arrive together when their shared commit fails, and none is stored', async () => {
    const { db, store: packages } = store();
    const breaker = failCommitsOn(db, 'packages');
    const refused = await Promise.allSettled([ask(packages, 1, 'Alice'), ask(packages, 2, 'Bob')]);
    expect(refused.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await packages.listAfter(0, 10)).toEqual([]);
    breaker.heal();
    expect((await ask(packages, 2, 'Bob')).pkg.id).toBe(1);
  });
});

describe('Inventory replicas on one PostgreSQL database', () => {
  test(
    'the same request on two replicas at the same instant ' + 'gives one 201 and one 200; another name a 409',
    async () => {
      const schema = databases.newSchema();
      const replicas = await Promise.all(
        [1, 2].map(async () =>
          request(
            createApp({
              database: { kind: 'postgres', pg: await databases.postgres(schema) },
              logger: createSilentLogger(),
            }).callback(),
          ),
        ),
      );
      for (let customerId = 1; customerId <= 20; customerId++) {
        const [a, b] = await Promise.all(
          replicas.map((http) => post(http, { customerId, customerName: `Customer ${customerId}` })),
        );
        expect([a!.status, b!.status].sort()).toEqual([200, 201]);
        expect(a!.body.id).toBe(b!.body.id);
        const renamed = await post(replicas[customerId % 2]!, { customerId, customerName: 'Mallory' });
        expect(renamed.status).toBe(409);
      }
      const listed = await replicas[0]!.get('/packages?limit=100');
      expect(listed.body).toHaveLength(20);
      expect(new Set(listed.body.map((p: { customerId: number }) => p.customerId)).size).toBe(20);
    },
  );
});
