import type { Postgres } from '@welcome/common';
import { toPackage, type PackageRow, type PackageStore } from './package-store.js';

/**
 * Packages on a PostgreSQL server that any number of Inventory replicas share. UNIQUE
 * (customer_id) decides between two requests for the same customer: the second one's insert
 * waits for the first to commit, does nothing, and then finds the first one's package.
 */
export function createPostgresPackageStore(db: Postgres): PackageStore {
  return {
    async findOrInsert(pkg) {
      for (;;) {
        const [inserted] = await db.query<PackageRow>(
          'INSERT INTO packages (customer_id, customer_name, created_at) VALUES ($1, $2, $3) ON CONFLICT (customer_id) DO NOTHING RETURNING *',
          [pkg.customerId, pkg.customerName, pkg.createdAt],
        );
        if (inserted) return { created: true, pkg: toPackage(inserted) };
        // A statement of its own: its snapshot sees the row the insert conflicted with, even
        // when another replica committed it after the insert began.
        const [existing] = await db.query<PackageRow>('SELECT * FROM packages WHERE customer_id = $1', [pkg.customerId]);
        if (existing) return { created: false, pkg: toPackage(existing) };
      }
    },
    async findById(id) {
      const [row] = await db.query<PackageRow>('SELECT * FROM packages WHERE id = $1', [id]);
      return row && toPackage(row);
    },
    async listAfter(after, limit, customerId) {
      const rows =
        customerId === undefined
          ? await db.query<PackageRow>('SELECT * FROM packages WHERE id > $1 ORDER BY id LIMIT $2', [after, limit])
          : await db.query<PackageRow>('SELECT * FROM packages WHERE id > $1 AND customer_id = $2 ORDER BY id LIMIT $3', [after, customerId, limit]);
      return rows.map(toPackage);
    },
  };
}
