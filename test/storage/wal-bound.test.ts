import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import {
  createSilentLogger,
  createStorageGuard,
  openDatabase,
  setUpSqlite,
  sqliteDatabase,
  type Db,
  type ServiceSchema,
} from '@welcome/common';
import { customerCreatedEvent } from '../../crm/src/domain/webhooks.js';
import { createSqliteCustomerStore } from '../../crm/src/store/customers/sqlite.js';
import { crmSchema } from '../../crm/src/store/schema.js';
import { inventorySchema } from '../../inventory/src/store/schema.js';
import { createInventoryStores } from '../../inventory/src/store/stores.js';
import { middlewareSchema } from '../../middleware/src/store/schema.js';
import { createMiddlewareStores } from '../../middleware/src/store/stores.js';

// Each service's write-ahead log stays a few MB however many customers pass: every write commits
// in a statement that steps to its end, so SQLite's automatic checkpoint runs.
const COUNT = Number(process.env.WAL_TEST_CUSTOMERS ?? 100_000);
const WAL_BOUND = 8 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'wal-bound-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A database file as the service opens it; fsync off (unless the service sets its own), which
 * changes how fast, not what the log holds.
 */
function fileDb(name: string, schema: ServiceSchema): Db {
  const db = openDatabase(join(dir, name));
  db.pragma('synchronous = OFF');
  return setUpSqlite(db, schema.sqlite);
}

const walSize = (name: string) => statSync(join(dir, `${name}-wal`)).size;
const guard = (db: Db) => createStorageGuard(db, createSilentLogger());

describe(`after ${COUNT} customers, the write-ahead log stays bounded`, () => {
  test('in the CRM', async () => {
    const db = fileDb('crm.db', crmSchema);
    const store = createSqliteCustomerStore(db, guard(db));
    const createdAt = new Date().toISOString();
    for (let i = 1; i <= COUNT; i++)
      await store.insert({ name: `Customer ${i}`, email: `c${i}@example.com`, createdAt }, customerCreatedEvent);
    expect(await store.listAfter(COUNT - 1, 10)).toHaveLength(1);
    expect(walSize('crm.db')).toBeLessThan(WAL_BOUND);
    db.close();
  }, 300_000);

  test('in the Inventory', async () => {
    const db = fileDb('inventory.db', inventorySchema);
    const store = createInventoryStores(sqliteDatabase(db, createSilentLogger())).packages;
    const createdAt = new Date().toISOString();
    for (let i = 1; i <= COUNT; i++)
      await store.findOrInsert({ customerId: i, customerName: `Customer ${i}`, createdAt });
    expect(await store.listAfter(COUNT - 1, 10)).toHaveLength(1);
    expect(walSize('inventory.db')).toBeLessThan(WAL_BOUND);
    db.close();
  }, 300_000);

  test('in the middleware', async () => {
    const db = fileDb('middleware.db', middlewareSchema);
    const store = createMiddlewareStores({ kind: 'sqlite', db, storage: guard(db) }).deliveries;
    const at = new Date();
    // As the poller writes: the confirmations of customers in flight together share a commit,
    // and the cursor is saved after them.
    for (let first = 1; first <= COUNT; first += 100) {
      const ids = Array.from({ length: 100 }, (_, i) => first + i);
      await Promise.all(
        ids.map((i) =>
          store.confirm({ customerId: i, customerName: `Customer ${i}`, packageId: i, outcome: 'created' }, at, 'poll'),
        ),
      );
      await store.advanceCursor(ids.at(-1)!);
    }
    expect(await store.cursor()).toBe(COUNT);
    expect(walSize('middleware.db')).toBeLessThan(WAL_BOUND);
    db.close();
  }, 300_000);
});
