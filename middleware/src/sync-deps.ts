import type { Db, Logger } from '@welcome/common';
import { createCrmClient } from './clients/crm-client.js';
import { createInventoryClient } from './clients/inventory-client.js';
import type { SyncDeps } from './domain/sync.js';
import { createSyncStore } from './store/sync-store.js';

/** Wires the store and the two upstream clients; retries are logged quietly while an outage is known. */
export function createSyncDeps(options: {
  db: Db;
  logger: Logger;
  crmUrl: string;
  inventoryUrl: string;
  timeoutMs: number;
  retryDelayMs: number;
}): SyncDeps & { db: Db } {
  const store = createSyncStore(options.db);
  const upstream = {
    timeoutMs: options.timeoutMs,
    retryDelayMs: options.retryDelayMs,
    logger: options.logger,
    quiet: () => store.status().outage !== null,
  };
  return {
    crm: createCrmClient({ baseUrl: options.crmUrl, ...upstream }),
    inventory: createInventoryClient({ baseUrl: options.inventoryUrl, ...upstream }),
    store,
    db: options.db,
    logger: options.logger,
    now: () => new Date(),
  };
}
