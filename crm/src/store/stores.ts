import type { ServiceDatabase } from '@welcome/common';
import type { CustomerStore } from './customers/customer-store.js';
import { createPostgresCustomerStore } from './customers/postgres.js';
import { createSqliteCustomerStore } from './customers/sqlite.js';
import { createPostgresWebhookStore } from './webhooks/postgres.js';
import { createSqliteWebhookStore } from './webhooks/sqlite.js';
import type { WebhookStore } from './webhooks/webhook-store.js';

export interface CrmStores {
  customers: CustomerStore;
  webhooks: WebhookStore;
}

/** The CRM's stores on the database the configuration opened: the backend is picked here, once. */
export function createCrmStores(database: ServiceDatabase): CrmStores {
  return database.kind === 'sqlite'
    ? {
        customers: createSqliteCustomerStore(database.db, database.storage),
        webhooks: createSqliteWebhookStore(database.db, database.storage),
      }
    : { customers: createPostgresCustomerStore(database.pg), webhooks: createPostgresWebhookStore(database.pg) };
}
