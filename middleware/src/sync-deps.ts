import type { Logger, ServiceDatabase } from '@welcome/common';
import { createCrmClient } from './clients/crm-client.js';
import { DEFAULT_DELIVERY_CONCURRENCY } from './config.js';
import { createInventoryClient } from './clients/inventory-client.js';
import type { SyncDeps } from './domain/sync.js';
import { createSyncStore } from './store/sync-store.js';

/** Everything the middleware's app and poller are built from. */
export type MiddlewareDeps = SyncDeps & {
  database: ServiceDatabase;
  /** CRM_WEBHOOK_SECRET: POST /webhooks/crm exists only when it is set. */
  webhookSecret: string | undefined;
  /** API_KEYS of the middleware's own routes: when any, all but the public ones need one. */
  apiKeys: readonly string[];
};

/** Wires the store and the two upstream clients; retries are logged quietly while an outage is known. */
export function createSyncDeps(options: {
  database: ServiceDatabase;
  logger: Logger;
  crmUrl: string;
  inventoryUrl: string;
  timeoutMs: number;
  retryDelayMs: number;
  longPollS?: number;
  webhookSecret?: string | undefined;
  concurrency?: number;
  /** CRM_API_KEY and INVENTORY_API_KEY, sent to each upstream when set. */
  crmApiKey?: string | undefined;
  inventoryApiKey?: string | undefined;
  /** API_KEYS of the middleware's own routes. */
  apiKeys?: readonly string[];
}): MiddlewareDeps {
  const concurrency = options.concurrency ?? DEFAULT_DELIVERY_CONCURRENCY;
  if (options.database.kind !== 'sqlite') throw new Error('the middleware keeps its data in SQLite');
  const store = createSyncStore(options.database.db, options.database.storage);
  const upstream = {
    timeoutMs: options.timeoutMs,
    retryDelayMs: options.retryDelayMs,
    logger: options.logger,
    quiet: () => store.status().outage !== null,
  };
  const longPollS = options.longPollS ?? 0;
  return {
    // The CRM: a page walk, a held long poll, a readiness ping and a replay may be open at once.
    crm: createCrmClient({ baseUrl: options.crmUrl, ...upstream, maxSockets: 4, apiKey: options.crmApiKey }),
    // The Inventory: the poller's deliveries, and room beside them for webhooks, replays and pings.
    inventory: createInventoryClient({ baseUrl: options.inventoryUrl, ...upstream, maxSockets: concurrency + 8, apiKey: options.inventoryApiKey }),
    store,
    database: options.database,
    logger: options.logger,
    now: () => new Date(),
    inFlight: new Map(),
    longPollS,
    concurrency,
    pollPath: longPollS > 0 ? 'longPoll' : 'poll',
    webhookSecret: options.webhookSecret,
    apiKeys: options.apiKeys ?? [],
  };
}
