import type { ServiceDatabase } from '@welcome/common';
import type { PackageStore } from './packages/package-store.js';
import { createPostgresPackageStore } from './packages/postgres.js';
import { createSqlitePackageStore } from './packages/sqlite.js';

export interface InventoryStores {
  packages: PackageStore;
}

/** The Inventory's stores on the database the configuration opened: the backend is picked here, once. */
export function createInventoryStores(database: ServiceDatabase): InventoryStores {
  return database.kind === 'sqlite'
    ? { packages: createSqlitePackageStore(database.db, database.storage) }
    : { packages: createPostgresPackageStore(database.pg) };
}
