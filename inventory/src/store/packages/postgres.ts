import { groupCommit, type Postgres } from '@welcome/common';
import type { NewPackage, WelcomePackage } from '../../domain/model.js';
import { toPackage, type PackageRow, type PackageStore } from './package-store.js';

type Found = { created: boolean; pkg: WelcomePackage };

// The first request for each customer in the batch, in the order they arrived: ids follow arrival.
const INSERT_FIRSTS = `
  INSERT INTO packages (customer_id, customer_name, created_at)
  SELECT customer_id, customer_name, created_at FROM (
    SELECT DISTINCT ON (customer_id) customer_id, customer_name, created_at, position
    FROM unnest($1::bigint[], $2::text[], $3::text[])
      WITH ORDINALITY AS asked (customer_id, customer_name, created_at, position)
    ORDER BY customer_id, position
  ) firsts
  ORDER BY position
  ON CONFLICT (customer_id) DO NOTHING
  RETURNING *`;

/**
 * Packages on a PostgreSQL server that any number of Inventory replicas share. UNIQUE
 * (customer_id) decides between two requests for the same customer: the second one's insert
 * waits for the first to commit, does nothing, and then finds the first one's package. The
 * requests a replica takes while its previous insert commits go in together, one commit for all.
 */
export function createPostgresPackageStore(db: Postgres): PackageStore {
  const findOrInsertAll = async (batch: NewPackage[]) => {
    const inserted = await db.query<PackageRow>(INSERT_FIRSTS, [
      batch.map((pkg) => pkg.customerId),
      batch.map((pkg) => pkg.customerName),
      batch.map((pkg) => pkg.createdAt),
    ]);
    const created = new Map(inserted.map((row) => [row.customer_id, toPackage(row)]));
    const others = batch.map((pkg) => pkg.customerId).filter((customerId) => !created.has(customerId));
    // A statement of its own: its snapshot sees the rows the insert conflicted with, even those
    // another replica committed after the insert began.
    const existing = new Map<number, WelcomePackage>();
    if (others.length > 0) {
      for (const row of await db.query<PackageRow>('SELECT * FROM packages WHERE customer_id = ANY($1::bigint[])', [
        others,
      ])) {
        existing.set(row.customer_id, toPackage(row));
      }
    }
    const told = new Set<number>();
    return batch.map((pkg) => {
      const made = created.get(pkg.customerId);
      if (made && !told.has(pkg.customerId)) {
        told.add(pkg.customerId);
        return { ok: true as const, value: { created: true, pkg: made } };
      }
      const found = made ?? existing.get(pkg.customerId);
      return found
        ? { ok: true as const, value: { created: false, pkg: found } }
        : { ok: false as const, error: new Error(`no package found for customer ${pkg.customerId} after its insert`) };
    });
  };

  return {
    findOrInsert: groupCommit<NewPackage, Found>(findOrInsertAll),
    async findById(id) {
      const [row] = await db.query<PackageRow>('SELECT * FROM packages WHERE id = $1', [id]);
      return row && toPackage(row);
    },
    async listAfter(after, limit, customerId) {
      const rows =
        customerId === undefined
          ? await db.query<PackageRow>('SELECT * FROM packages WHERE id > $1 ORDER BY id LIMIT $2', [after, limit])
          : await db.query<PackageRow>(
              'SELECT * FROM packages WHERE id > $1 AND customer_id = $2 ORDER BY id LIMIT $3',
              [after, customerId, limit],
            );
      return rows.map(toPackage);
    },
    async listAfterCustomerId(afterCustomerId, limit, customerId) {
      const rows =
        customerId === undefined
          ? await db.query<PackageRow>('SELECT * FROM packages WHERE customer_id > $1 ORDER BY customer_id LIMIT $2', [
              afterCustomerId,
              limit,
            ])
          : await db.query<PackageRow>(
              'SELECT * FROM packages WHERE customer_id > $1 AND customer_id = $2 ORDER BY customer_id LIMIT $3',
              [afterCustomerId, customerId, limit],
            );
      return rows.map(toPackage);
    },
  };
}
