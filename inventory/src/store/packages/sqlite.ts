import { groupCommit, type Db, type StorageGuard } from '@welcome/common';
import type { NewPackage, WelcomePackage } from '../../domain/model.js';
import { toPackage, type PackageRow, type PackageStore } from './package-store.js';

/**
 * Packages in a SQLite file. Requests that arrive in the same turn are committed together (one
 * sync to disk for all of them), in arrival order, so a second request for the same customer in
 * that batch finds the first one's package.
 */
export function createSqlitePackageStore(db: Db, storage: StorageGuard): PackageStore {
  const byCustomer = db.prepare<[number], PackageRow>('SELECT * FROM packages WHERE customer_id = ?');
  const insert = db.prepare<[number, string, string], PackageRow>(
    'INSERT INTO packages (customer_id, customer_name, created_at) VALUES (?, ?, ?) RETURNING *',
  );
  const byId = db.prepare<[number], PackageRow>('SELECT * FROM packages WHERE id = ?');
  const after = db.prepare<[number, number], PackageRow>('SELECT * FROM packages WHERE id > ? ORDER BY id LIMIT ?');
  const afterOfCustomer = db.prepare<[number, number, number], PackageRow>(
    'SELECT * FROM packages WHERE id > ? AND customer_id = ? ORDER BY id LIMIT ?',
  );
  const afterCustomer = db.prepare<[number, number], PackageRow>(
    'SELECT * FROM packages WHERE customer_id > ? ORDER BY customer_id LIMIT ?',
  );
  const afterCustomerOfCustomer = db.prepare<[number, number, number], PackageRow>(
    'SELECT * FROM packages WHERE customer_id > ? AND customer_id = ? ORDER BY customer_id LIMIT ?',
  );

  const findOrInsert = (pkg: NewPackage) => {
    const existing = byCustomer.get(pkg.customerId);
    if (existing) return { created: false, pkg: toPackage(existing) };
    return { created: true, pkg: toPackage(insert.get(pkg.customerId, pkg.customerName, pkg.createdAt)!) };
  };
  const findOrInsertAll = db.transaction((batch: NewPackage[]) =>
    batch.map((pkg) => ({ ok: true as const, value: findOrInsert(pkg) })),
  );
  const findOrInsertTogether = groupCommit<NewPackage, { created: boolean; pkg: WelcomePackage }>((batch) =>
    storage.write('insert package', () => findOrInsertAll.immediate(batch)),
  );

  return {
    findOrInsert: findOrInsertTogether,
    async findById(id) {
      const row = byId.get(id);
      return row && toPackage(row);
    },
    async listAfter(afterId, limit, customerId) {
      const rows =
        customerId === undefined ? after.all(afterId, limit) : afterOfCustomer.all(afterId, customerId, limit);
      return rows.map(toPackage);
    },
    async listAfterCustomerId(afterCustomerId, limit, customerId) {
      const rows =
        customerId === undefined
          ? afterCustomer.all(afterCustomerId, limit)
          : afterCustomerOfCustomer.all(afterCustomerId, customerId, limit);
      return rows.map(toPackage);
    },
  };
}
