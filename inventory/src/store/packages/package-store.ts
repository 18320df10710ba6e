import type { NewPackage, PackageStatus, WelcomePackage } from '../../domain/model.js';

export interface PackageStore {
  /**
   * Returns the customer's package, creating it first when there is none: `created` tells which.
   * Resolves once the package is committed. Two requests for the same customer at the same
   * instant, on one replica or on two, make one package: one of them is told `created`.
   */
  findOrInsert(pkg: NewPackage): Promise<{ created: boolean; pkg: WelcomePackage }>;
  findById(id: number): Promise<WelcomePackage | undefined>;
  /** Up to `limit` packages with an id above `after`, by id ascending, of one customer if given. */
  listAfter(after: number, limit: number, customerId?: number): Promise<WelcomePackage[]>;
  /**
   * Up to `limit` packages with a customerId above `afterCustomerId`, by customerId ascending, of
   * one customer if given. UNIQUE (customer_id) makes it a keyset order, walked on that index.
   */
  listAfterCustomerId(afterCustomerId: number, limit: number, customerId?: number): Promise<WelcomePackage[]>;
}

export interface PackageRow {
  id: number;
  customer_id: number;
  customer_name: string;
  status: PackageStatus;
  created_at: string;
}

export const toPackage = (row: PackageRow): WelcomePackage => ({
  id: row.id,
  customerId: row.customer_id,
  customerName: row.customer_name,
  status: row.status,
  createdAt: row.created_at,
});
