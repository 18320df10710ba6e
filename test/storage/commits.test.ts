import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger, openSqlite, sqliteDatabase, type Db, type Logger } from '@welcome/common';
import { createApp as createCrm } from '../../crm/src/app.js';
import { crmSchema } from '../../crm/src/store/schema.js';
import { createApp as createInventory } from '../../inventory/src/app.js';
import { inventorySchema } from '../../inventory/src/store/schema.js';
import { createApp as createMiddleware } from '../../middleware/src/app.js';
import { syncNewCustomers } from '../../middleware/src/domain/sync.js';
import {
  closedAfterEach,
  createCustomer,
  gatedInventory,
  listPackages,
  middlewareDeps,
  sqliteOf,
} from '../../middleware/test/support.js';
import { ContractChecker } from '../e2e/contract.js';
import { captureLogs } from '../support/logs.js';
import { failCommitsOn, fillDisk } from './faults.js';

const { server, upstreams } = closedAfterEach();

const postJson = (http: ReturnType<typeof request>, path: string, body: unknown) =>
  http.post(path).set('Content-Type', 'application/json').send(JSON.stringify(body));

/** The CRM and the Inventory, each with what a write to it looks like and how to list what it stored. */
const services = [
  {
    name: 'CRM',
    schema: crmSchema,
    table: 'customers',
    build: (db: Db, logger: Logger) => createCrm({ database: sqliteDatabase(db, logger), logger }),
    write: (http: ReturnType<typeof request>, n: number) =>
      postJson(http, '/customers', { name: `Customer ${n}`, email: `c${n}@example.com` }),
    nameOf: (stored: { name: string }) => stored.name,
    list: '/customers?limit=1000',
  },
  {
    name: 'Inventory',
    schema: inventorySchema,
    table: 'packages',
    build: (db: Db, logger: Logger) => createInventory({ database: sqliteDatabase(db, logger), logger }),
    write: (http: ReturnType<typeof request>, n: number) =>
      postJson(http, '/packages', { customerId: n, customerName: `Customer ${n}` }),
    nameOf: (stored: { customerName: string }) => stored.customerName,
    list: '/packages?limit=1000',
  },
] as const;

describe('a commit that fails is never acknowledged', () => {
  test.each(services)('the $name answers no 2xx, hands out no id, and stores nothing', async (service) => {
    const db = openSqlite(':memory:', service.schema.sqlite);
    const http = request(service.build(db, createSilentLogger()).callback());
    const breaker = failCommitsOn(db, service.table);
    const refused = await Promise.all([1, 2, 3].map(async (n) => (await service.write(http, n)).status));
    expect(refused).toEqual([500, 500, 500]);
    expect((await http.get(service.list)).body).toEqual([]);

    breaker.heal();
    const accepted = await service.write(http, 4);
    expect(accepted.status).toBe(201);
    expect(accepted.body.id).toBe(1);
    expect((await http.get(service.list)).body).toEqual([accepted.body]);
  });

  test(
    'the middleware does not move its cursor past a delivery it could not record, ' + 'and the resend is answered 200',
    async () => {
      const { crm, inventory } = await upstreams();
      const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: inventory.url });
      await createCustomer(crm.url, 'Alice');
      const breaker = failCommitsOn(sqliteOf(deps), 'deliveries');
      await expect(syncNewCustomers(deps.polling)).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
      expect(await deps.stores.status.read()).toMatchObject({ cursor: 0, created: 0, recentDeliveries: [] });

      breaker.heal();
      expect(await syncNewCustomers(deps.polling)).toMatchObject({ found: 1, alreadyThere: 1 });
      expect(await deps.stores.deliveries.cursor()).toBe(1);
      expect(await listPackages(inventory.url)).toHaveLength(1);
    },
  );

  test('the middleware does not move its cursor past a dead letter it could not record', async () => {
    const { crm, inventory } = await upstreams();
    const refusing = await server(gatedInventory(inventory.url, () => 422));
    const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: refusing.url });
    await createCustomer(crm.url, 'Mallory');
    const breaker = failCommitsOn(sqliteOf(deps), 'dead_letters');
    await expect(syncNewCustomers(deps.polling)).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
    expect(await deps.stores.status.read()).toMatchObject({ cursor: 0, deadLetters: 0 });

    breaker.heal();
    expect(await syncNewCustomers(deps.polling)).toMatchObject({ found: 1, deadLettered: 1 });
    expect(await deps.stores.status.read()).toMatchObject({ cursor: 1, deadLetters: 1 });
  });
});

describe('a full disk', () => {
  test.each(services)(
    'the $name answers 507 with Retry-After, is not ready, says so once, and takes writes again once there is room',
    async (service) => {
      const db = openSqlite(':memory:', service.schema.sqlite);
      const { logger, lines } = captureLogs(service.name);
      const http = request(service.build(db, logger).callback());
      const disk = fillDisk(db, service.table);

      const acknowledged: Array<{ id: number }> = [];
      let full: request.Response | undefined;
      for (let n = 1; n <= 1000 && !full; n++) {
        const response = await service.write(http, n);
        if (response.status === 201) acknowledged.push(response.body);
        else full = response;
      }
      expect(full?.status).toBe(507);
      expect(full?.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(full?.headers['retry-after']).toBe('30');
      expect(full?.body).toMatchObject({
        type: '/problems/insufficient-storage',
        status: 507,
        title: 'Insufficient Storage',
      });
      const documented = new ContractChecker((await http.get('/openapi.json')).body);
      const path = service.list.split('?')[0]!;
      expect(
        documented.check({
          method: 'POST',
          path,
          status: 507,
          contentType: full!.headers['content-type']!,
          body: full!.body,
        }),
      ).toEqual([]);
      for (let n = 2001; n <= 2005; n++) expect((await service.write(http, n)).status).toBe(507);

      const ready = await http.get('/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.errors).toEqual([{ field: 'storage', message: expect.stringMatching(/full/) }]);
      expect((await http.get('/health')).status).toBe(200);
      // Every 201 given stands for a row that is there, each with its own id.
      const stored = (await http.get(service.list)).body as Array<{ id: number }>;
      expect(stored).toEqual(acknowledged);
      expect(new Set(acknowledged.map((row) => row.id)).size).toBe(acknowledged.length);

      disk.free();
      expect((await service.write(http, 3000)).status).toBe(201);
      expect((await http.get('/ready')).status).toBe(200);
      const said = lines.filter((line) => line.level !== 'debug' && /disk/.test(line.message));
      expect(said.map((line) => line.level)).toEqual(['error', 'info']);
      expect(lines.filter((line) => line.status === 507).every((line) => line.level === 'warn')).toBe(true);
    },
  );

  test(
    'the middleware stops the cycle without moving its cursor while its own disk is full, ' +
      'and delivers each customer once after',
    async () => {
      const { crm, inventory } = await upstreams();
      const { logger, lines } = captureLogs('middleware');
      const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: inventory.url, logger });
      const http = request(createMiddleware(deps).callback());
      for (let n = 1; n <= 300; n++) await createCustomer(crm.url, `Customer ${n}`);
      const disk = fillDisk(sqliteOf(deps), 'deliveries');

      const report = await syncNewCustomers(deps.polling);
      expect(report.failure).toMatch(/disk .* is full/);
      const stuckAt = await deps.stores.deliveries.cursor();
      expect(stuckAt).toBeLessThan(300);
      expect(await syncNewCustomers(deps.polling)).toMatchObject({ failure: expect.stringMatching(/full/) });
      expect(await deps.stores.deliveries.cursor()).toBe(stuckAt);
      expect((await http.get('/ready')).body.errors).toContainEqual({
        field: 'storage',
        message: expect.stringMatching(/full/),
      });

      disk.free();
      while ((await syncNewCustomers(deps.polling)).more) {
        // A backlog longer than one cycle reads: the poller would start the next at once.
      }
      expect(await deps.stores.deliveries.cursor()).toBe(300);
      const packages = await listPackages(inventory.url);
      expect(new Set(packages.map((p) => p.customerId)).size).toBe(300);
      expect(packages).toHaveLength(300);
      expect((await http.get('/ready')).status).toBe(200);
      expect(
        lines.filter((line) => line.level !== 'debug' && /disk/.test(line.message)).map((line) => line.level),
      ).toEqual(['error', 'info']);
    },
  );

  test(
    'the middleware treats an Inventory answering 507 as an outage, ' + 'and delivers once it has room again',
    async () => {
      const { crm, inventory } = await upstreams();
      let full = true;
      const gated = await server(gatedInventory(inventory.url, () => (full ? 507 : undefined)));
      const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: gated.url });
      await createCustomer(crm.url, 'Alice');
      const report = await syncNewCustomers(deps.polling);
      expect(report.failure).toMatch(/Inventory unavailable: answered 507/);
      expect(await deps.stores.status.read()).toMatchObject({ cursor: 0, outage: { upstream: 'Inventory' } });

      full = false;
      expect(await syncNewCustomers(deps.polling)).toMatchObject({ created: 1 });
      expect(await deps.stores.status.read()).toMatchObject({ cursor: 1, outage: null });
    },
  );
});
