import { loadMigrations, type ServiceSchema } from '@welcome/common';

/**
 * The CRM's tables on either backend, one numbered SQL file a step (crm/migrations/sqlite and
 * crm/migrations/postgres), applied once each, in order, when the service opens its database.
 * Its answers promise a stored row, so every commit waits for the disk: SQLite's synchronous =
 * FULL, as every file is opened, and PostgreSQL's default.
 */
export const crmSchema: ServiceSchema = {
  sqlite: {
    applicationId: 0x7763726d, // "wcrm"
    ownTable: 'customers',
    migrations: loadMigrations(new URL('../../migrations/sqlite/', import.meta.url)),
  },
  postgres: { migrations: loadMigrations(new URL('../../migrations/postgres/', import.meta.url)) },
};
