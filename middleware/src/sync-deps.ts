import { createStorageGuard, type Db, type Logger, type StorageGuard } from '@welcome/common';
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
}): SyncDeps & { db: Db; storage: StorageGuard } {
  const storage = createStorageGuard(options.db, options.logger);
  const store = createSyncStore(options.db, storage);
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
    storage,
    db: options.db,
    logger: options.logger,
    now: () => new Date(),
  };
}
