import { loadMigrations, type ServiceSchema } from '@welcome/common';

/**
 * The Inventory's tables on either backend, one numbered SQL file a step
 * (inventory/migrations/sqlite and inventory/migrations/postgres), applied once each, in order,
 * when the service opens its database. Its answers promise a stored row, so every commit waits
 * for the disk: SQLite's synchronous = FULL, as every file is opened, and PostgreSQL's default.
 */
export const inventorySchema: ServiceSchema = {
  sqlite: {
    applicationId: 0x77696e76, // "winv"
    ownTable: 'packages',
    migrations: loadMigrations(new URL('../../migrations/sqlite/', import.meta.url)),
  },
  postgres: { migrations: loadMigrations(new URL('../../migrations/postgres/', import.meta.url)) },
};
