import { createStorageGuard, type Db, type Logger, type StorageGuard } from '@welcome/common';
import { createCrmClient } from './clients/crm-client.js';
import { createInventoryClient } from './clients/inventory-client.js';
import type { SyncDeps } from './domain/sync.js';
import { createSyncStore } from './store/sync-store.js';

/** Everything the middleware's app and poller are built from. */
export type MiddlewareDeps = SyncDeps & {
  db: Db;
  storage: StorageGuard;
  /** CRM_WEBHOOK_SECRET: POST /webhooks/crm exists only when it is set. */
  webhookSecret: string | undefined;
};

/** Wires the store and the two upstream clients; retries are logged quietly while an outage is known. */
export function createSyncDeps(options: {
  db: Db;
  logger: Logger;
  crmUrl: string;
  inventoryUrl: string;
  timeoutMs: number;
  retryDelayMs: number;
  longPollS?: number;
  webhookSecret?: string | undefined;
}): MiddlewareDeps {
  const storage = createStorageGuard(options.db, options.logger);
  const store = createSyncStore(options.db, storage);
  const upstream = {
    timeoutMs: options.timeoutMs,
    retryDelayMs: options.retryDelayMs,
    logger: options.logger,
    quiet: () => store.status().outage !== null,
  };
  const longPollS = options.longPollS ?? 0;
  return {
    crm: createCrmClient({ baseUrl: options.crmUrl, ...upstream }),
    inventory: createInventoryClient({ baseUrl: options.inventoryUrl, ...upstream }),
    store,
    storage,
    db: options.db,
    logger: options.logger,
    now: () => new Date(),
    inFlight: new Map(),
    longPollS,
    pollPath: longPollS > 0 ? 'longPoll' : 'poll',
    webhookSecret: options.webhookSecret,
  };
}
