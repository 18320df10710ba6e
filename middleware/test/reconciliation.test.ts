import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger, type ServiceDatabase } from '@welcome/common';
import { createApp as createInventory } from '../../inventory/src/app.js';
import { inventorySchema } from '../../inventory/src/store/schema.js';
import { createApp } from '../src/app.js';
import { syncNewCustomers } from '../src/domain/sync.js';
import type { Middleware } from '../src/wiring.js';
import { BACKENDS, sqliteAt, type Backend } from '../../test/support/databases.js';
import { sendJson, serveApp, serveHandler, waitFor } from '../../test/support/servers.js';
import { closedAfterEach, createCustomer, listPackages, middlewareDeps, postPackage } from './support.js';

const { upstreams, server } = closedAfterEach();

/** The Inventory's own database, for the changes a person makes by hand behind its API. */
function sqlOf(database: ServiceDatabase) {
  if (database.kind !== 'sqlite') throw new Error('expected SQLite');
  return database.db;
}

/**
 * A CRM with `names` as its customers, an Inventory whose database the test can reach behind its
 * back, and a middleware that has delivered them all.
 */
async function delivered(
  names: string[],
  options: { backend?: Backend; reconcileIntervalMs?: number; checkMs?: number; leaseMs?: number } = {},
) {
  const { crm } = await upstreams();
  const inventoryDb = sqliteAt(inventorySchema);
  const inventory = await server(serveApp(createInventory({ database: inventoryDb, logger: createSilentLogger() })));
  for (const name of names) await createCustomer(crm.url, name);
  const deps = await middlewareDeps({
    crmUrl: crm.url,
    inventoryUrl: inventory.url,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.reconcileIntervalMs ? { reconcileIntervalMs: options.reconcileIntervalMs } : {}),
    reconcileTiming: { checkMs: options.checkMs ?? 20, leaseMs: options.leaseMs ?? 60_000 },
  });
  await syncNewCustomers(deps.polling);
  expect(await deps.stores.deliveries.cursor()).toBe(names.length);
  const app = createApp(deps);
  return { crm, inventory, deps, app, inventorySql: sqlOf(inventoryDb) };
}

/** Starts a reconciliation over HTTP and waits for it to end; its final state. */
async function reconcile(deps: Middleware, app: ReturnType<typeof createApp>, body: object = {}) {
  const started = await request(app.callback()).post('/reconciliations').send(body);
  expect(started.status).toBe(202);
  expect(started.headers.location).toBe(`/reconciliations/${started.body.id}`);
  await deps.reconciler.idle();
  const done = await request(app.callback()).get(started.headers.location!);
  expect(done.status).toBe(200);
  return done.body as {
    id: number;
    status: string;
    fromId: number;
    toId: number;
    progress: { checkedUpTo: number; checked: number; total: number };
    counts: Record<string, number>;
    findings: Array<Record<string, unknown>>;
    error: string | null;
  };
}

const NAMES = ['Ada', 'Brian', 'Cleo', 'Dmitri', 'Eve', 'Farid', 'Grace', 'Hugo'];

describe.each(BACKENDS)('a reconciliation on %s', (backend) => {
  test(
    'finds the customers whose packages the Inventory lost, ' + 'repairs them, and a second run finds nothing',
    async () => {
      const { inventory, deps, app, inventorySql } = await delivered(NAMES, { backend });
      inventorySql.prepare('DELETE FROM packages WHERE customer_id IN (3, 7)').run();

      const first = await reconcile(deps, app);

      expect(first).toMatchObject({
        status: 'done',
        fromId: 1,
        toId: 8,
        progress: { checkedUpTo: 8, checked: 8, total: 8 },
        error: null,
      });
      expect(first.counts).toEqual({ missing: 2, mismatched: 0, orphaned: 0, repaired: 2 });
      expect(first.findings).toEqual([
        { kind: 'missing', customerId: 3, customerName: 'Cleo', repair: 'created', packageId: expect.any(Number) },
        { kind: 'missing', customerId: 7, customerName: 'Grace', repair: 'created', packageId: expect.any(Number) },
      ]);
      const packages = await listPackages(inventory.url);
      expect(packages.map((pkg) => pkg.customerId).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(packages.find((pkg) => pkg.customerId === 3)).toMatchObject({
        customerName: 'Cleo',
        id: first.findings[0]!.packageId,
      });
      expect((await deps.stores.status.read()).created).toBe(10);

      const second = await reconcile(deps, app);
      expect(second.counts).toEqual({ missing: 0, mismatched: 0, orphaned: 0, repaired: 0 });
      expect(second.findings).toEqual([]);
    },
  );

  test('one runs at a time: 409 with the running one as Location', async () => {
    const { deps, app } = await delivered(NAMES.slice(0, 2), { backend });
    const other = await deps.stores.reconciliations.start(
      { fromId: 1, toId: 2, repair: true, openEnded: true },
      'another-replica',
      new Date(),
      60_000,
    );

    const response = await request(app.callback()).post('/reconciliations').send({});

    expect(response.status).toBe(409);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers.location).toBe(`/reconciliations/${other.run.id}`);
    expect((await request(app.callback()).get('/reconciliations/latest')).body).toMatchObject({
      id: other.run.id,
      status: 'running',
    });
  });

  test('a walk left running by a stopped process goes on from where it was saved', async () => {
    const { deps, inventorySql } = await delivered(NAMES, { backend });
    inventorySql.prepare('DELETE FROM packages WHERE customer_id IN (2, 6)').run();
    const { run } = await deps.stores.reconciliations.start(
      { fromId: 1, toId: 8, repair: true, openEnded: true },
      'gone',
      new Date(0),
      1,
    );
    await deps.stores.reconciliations.save(
      run.id,
      'gone',
      { position: 4, counts: { missing: 0, mismatched: 0, orphaned: 0, repaired: 0 }, findings: [] },
      new Date(0),
      1,
    );

    deps.reconciler.startTimers();
    await waitFor(
      'the walk to be taken over and ended',
      async () => (await deps.stores.reconciliations.find(run.id))?.status === 'done',
    );
    await deps.reconciler.stop();

    const ended = (await deps.stores.reconciliations.find(run.id))!;
    // Customer 2 was before the saved position: that walk was the other process's.
    expect(ended.findings).toEqual([expect.objectContaining({ kind: 'missing', customerId: 6, repair: 'created' })]);
    expect(ended.counts).toEqual({ missing: 1, mismatched: 0, orphaned: 0, repaired: 1 });
  });
});

describe('a reconciliation', () => {
  test(
    'reports a package renamed and a package for a customer the CRM does not have, ' + 'and changes neither',
    async () => {
      const { inventory, deps, app, inventorySql } = await delivered(NAMES.slice(0, 4));
      inventorySql.prepare("UPDATE packages SET customer_name = 'Brain' WHERE customer_id = 2").run();
      await postPackage(inventory.url, 6, 'Nobody');
      // The cursor past 6, as if customers 5 and 6 were dead-lettered, then gone from the CRM.
      await deps.stores.deadLetters.record({ customerId: 5, customer: {}, status: 422, reason: 'no' }, new Date());
      await deps.stores.deliveries.advanceCursor(6);
      // Beyond the cursor: a customer the CRM never had.
      await postPackage(inventory.url, 999, 'Ghost');
      const before = await listPackages(inventory.url);

      const run = await reconcile(deps, app);

      expect(run.counts).toEqual({ missing: 0, mismatched: 1, orphaned: 2, repaired: 0 });
      expect(run.findings).toEqual([
        {
          kind: 'mismatched',
          customerId: 2,
          customerName: 'Brian',
          packageId: expect.any(Number),
          packageCustomerName: 'Brain',
        },
        { kind: 'orphaned', customerId: 6, packageId: expect.any(Number), packageCustomerName: 'Nobody' },
        { kind: 'orphaned', customerId: 999, packageId: expect.any(Number), packageCustomerName: 'Ghost' },
      ]);
      expect(await listPackages(inventory.url)).toEqual(before);
    },
  );

  test(
    'beyond the cursor, a package whose customer the CRM has is no finding, ' + 'and nothing there is missing',
    async () => {
      const { crm, inventory, deps, app } = await delivered(NAMES.slice(0, 3));
      await createCustomer(crm.url, 'Dmitri');
      await createCustomer(crm.url, 'Eve');
      await postPackage(inventory.url, 4, 'Dmitri');

      const run = await reconcile(deps, app);

      expect(run).toMatchObject({
        toId: 3,
        counts: { missing: 0, mismatched: 0, orphaned: 0, repaired: 0 },
        findings: [],
      });
    },
  );

  test('with repair off, reports the missing customers and makes nothing', async () => {
    const { inventory, deps, app, inventorySql } = await delivered(NAMES.slice(0, 3));
    inventorySql.prepare('DELETE FROM packages WHERE customer_id = 2').run();

    const run = await reconcile(deps, app, { repair: false });

    expect(run.counts).toEqual({ missing: 1, mismatched: 0, orphaned: 0, repaired: 0 });
    expect(run.findings).toEqual([{ kind: 'missing', customerId: 2, customerName: 'Brian' }]);
    expect((await listPackages(inventory.url)).map((pkg) => pkg.customerId)).toEqual([1, 3]);
  });

  test('checks only the range asked for, and never beyond the cursor', async () => {
    const { crm, inventory, deps, app, inventorySql } = await delivered(NAMES.slice(0, 6));
    inventorySql.prepare('DELETE FROM packages WHERE customer_id IN (1, 4, 6)').run();
    await createCustomer(crm.url, 'Ivan');
    await postPackage(inventory.url, 999, 'Ghost');

    const run = await reconcile(deps, app, { fromId: 2, toId: 50, repair: false });

    expect(run).toMatchObject({ fromId: 2, toId: 6, progress: { checkedUpTo: 6, checked: 5, total: 5 } });
    expect(run.findings.map((finding) => finding.customerId)).toEqual([4, 6]);
  });

  test('a customer with a dead letter and no package is on that list, not missing', async () => {
    const { deps, app, inventorySql } = await delivered(NAMES.slice(0, 3));
    inventorySql.prepare('DELETE FROM packages WHERE customer_id = 2').run();
    await deps.stores.deadLetters.record({ customerId: 2, customer: {}, status: 422, reason: 'no' }, new Date());

    const run = await reconcile(deps, app);

    expect(run.counts).toEqual({ missing: 0, mismatched: 0, orphaned: 0, repaired: 0 });
  });

  test('a repair the Inventory refuses is dead-lettered, and counted missing, not repaired', async () => {
    const { crm, inventory, inventorySql } = await delivered(NAMES.slice(0, 2));
    inventorySql.prepare('DELETE FROM packages WHERE customer_id = 2').run();
    // The Inventory's lists as they are; every package asked for refused.
    const refusing = await server(
      serveHandler(async (req, res) => {
        if (req.method === 'POST') return sendJson(res, 422, { title: 'Refused by the test', status: 422 });
        const answer = await fetch(`${inventory.url}${req.url}`);
        res.setHeader('Link', answer.headers.get('link') ?? '');
        sendJson(res, answer.status, await answer.json());
      }),
    );
    const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: refusing.url });
    await deps.stores.deliveries.advanceCursor(2);
    const app = createApp(deps);

    const run = await reconcile(deps, app);

    expect(run.counts).toEqual({ missing: 1, mismatched: 0, orphaned: 0, repaired: 0 });
    expect(run.findings).toEqual([{ kind: 'missing', customerId: 2, customerName: 'Brian', repair: 'deadLettered' }]);
    const letters = await request(app.callback()).get('/dead-letters');
    expect(letters.body).toEqual([expect.objectContaining({ customerId: 2, status: 422 })]);
    // Dead-lettered now, it is no longer missing.
    expect((await reconcile(deps, app)).counts.missing).toBe(0);
  });

  test('fails, saying why, when an upstream does not answer, and keeps what it found', async () => {
    const { crm } = await upstreams();
    const down = await server(serveHandler((_req, res) => sendJson(res, 503, { title: 'down' })));
    for (const name of NAMES.slice(0, 2)) await createCustomer(crm.url, name);
    const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: down.url });
    await deps.stores.deliveries.advanceCursor(2);

    const run = await reconcile(deps, createApp(deps));

    expect(run).toMatchObject({ status: 'failed', progress: { checkedUpTo: 0 } });
    expect(run.error).toMatch(/^Inventory unavailable: answered 503/);
  });

  test(
    'fails, saying why, against an Inventory that does not list its packages by customer id, ' + 'and repairs nothing',
    async () => {
      const { crm } = await upstreams();
      for (const name of NAMES.slice(0, 2)) await createCustomer(crm.url, name);
      const asked: string[] = [];
      // An older Inventory: orderBy is not known, and the packages come by their own id.
      const older = await server(
        serveHandler((req, res) => {
          asked.push(`${req.method} ${req.url}`);
          sendJson(res, 200, [
            { id: 1, customerId: 2, customerName: 'Brian' },
            { id: 2, customerId: 1, customerName: 'Ada' },
          ]);
        }),
      );
      const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: older.url });
      await deps.stores.deliveries.advanceCursor(2);

      const run = await reconcile(deps, createApp(deps));

      expect(run).toMatchObject({ status: 'failed', counts: { missing: 0, repaired: 0 } });
      expect(run.error).toBe(
        'Inventory unavailable: it does not list its packages in customer-id order (GET /packages?orderBy=customerId)',
      );
      expect(asked.filter((line) => line.startsWith('POST'))).toEqual([]);
    },
  );

  test('RECONCILE_INTERVAL starts one on its own, and the next one an interval after the last began', async () => {
    const { deps } = await delivered(NAMES.slice(0, 2), { reconcileIntervalMs: 300, checkMs: 20 });
    deps.reconciler.startTimers();
    try {
      await waitFor(
        'a first scheduled reconciliation',
        async () => (await deps.stores.reconciliations.latest())?.status === 'done',
      );
      const first = (await deps.stores.reconciliations.latest())!;
      expect(Date.parse(first.startedAt) - Date.parse(deps.replica.startedAt)).toBeGreaterThanOrEqual(300);
      await waitFor('a second one', async () => ((await deps.stores.reconciliations.latest())?.id ?? 0) > first.id);
      const second = (await deps.stores.reconciliations.latest())!;
      expect(Date.parse(second.startedAt) - Date.parse(first.startedAt)).toBeGreaterThanOrEqual(300);
    } finally {
      await deps.reconciler.stop();
    }
  });

  test('metrics count the findings by kind and the repairs', async () => {
    const { deps, app, inventorySql } = await delivered(NAMES.slice(0, 3));
    inventorySql.prepare('DELETE FROM packages WHERE customer_id = 1').run();
    inventorySql.prepare("UPDATE packages SET customer_name = 'X' WHERE customer_id = 3").run();
    await reconcile(deps, app);

    const metrics = (await request(app.callback()).get('/metrics')).text;

    expect(metrics).toMatch(/^middleware_reconciliation_findings_total\{kind="missing",service="middleware"\} 1$/m);
    expect(metrics).toMatch(/^middleware_reconciliation_findings_total\{kind="mismatched",service="middleware"\} 1$/m);
    expect(metrics).toMatch(/^middleware_reconciliation_findings_total\{kind="orphaned",service="middleware"\} 0$/m);
    expect(metrics).toMatch(/^middleware_reconciliation_repairs_total\{service="middleware"\} 1$/m);
  });
});

describe('the reconciliation routes', () => {
  test('refuse a bad body with a problem naming each field, and start nothing', async () => {
    const { deps, app } = await delivered(NAMES.slice(0, 3));
    const cases: Array<[unknown, string[]]> = [
      [{ fromId: 0 }, ['fromId']],
      [{ fromId: 2.5, toId: 'x' }, ['fromId', 'toId']],
      [{ fromId: 3, toId: 2 }, ['toId']],
      [{ repair: 'yes' }, ['repair']],
      [{ everything: true }, ['everything']],
      [{ fromId: 4 }, ['fromId']],
      [[], ['']],
    ];
    for (const [body, fields] of cases) {
      const response = await request(app.callback())
        .post('/reconciliations')
        .send(body as object);
      expect([response.status, response.headers['content-type']]).toEqual([
        400,
        expect.stringMatching(/^application\/problem\+json/),
      ]);
      expect(response.body.errors.map((error: { field: string }) => error.field)).toEqual(fields);
    }
    expect(await deps.stores.reconciliations.latest()).toBeUndefined();
  });

  test(
    'take an empty POST as every customer up to the cursor, ' + 'list the runs, and answer 404 for one never run',
    async () => {
      const { deps, app } = await delivered(NAMES.slice(0, 3));
      expect((await request(app.callback()).get('/reconciliations/latest')).status).toBe(404);
      const started = await request(app.callback()).post('/reconciliations');
      expect(started.status).toBe(202);
      expect(started.body).toMatchObject({
        status: 'running',
        fromId: 1,
        toId: 3,
        repair: true,
        progress: { checked: 0, total: 3 },
      });
      await deps.reconciler.idle();
      const list = await request(app.callback()).get('/reconciliations');
      expect(list.body).toEqual([expect.objectContaining({ id: started.body.id, status: 'done' })]);
      expect((await request(app.callback()).get('/reconciliations/latest')).body).toMatchObject({
        id: started.body.id,
      });
      const missing = await request(app.callback()).get('/reconciliations/999');
      expect([missing.status, missing.headers['content-type']]).toEqual([
        404,
        expect.stringMatching(/^application\/problem\+json/),
      ]);
      expect((await request(app.callback()).get('/reconciliations/abc')).status).toBe(400);
    },
  );
});
