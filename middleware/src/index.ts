import { runService, startService } from '@welcome/common';
import { createApp } from './app.js';
import { createCrmClient } from './clients/crm-client.js';
import { createInventoryClient } from './clients/inventory-client.js';
import { loadConfig } from './config.js';
import { startPoller, type Poller } from './domain/poller.js';
import { syncNewCustomers, type SyncDeps } from './domain/sync.js';
import { createSyncStore } from './store/sync-store.js';

const RETRY_DELAY_MS = 1000;

await runService(
  'middleware',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('middleware', config, (db, logger) => {
      const upstream = { timeoutMs: config.httpTimeoutMs, retryDelayMs: RETRY_DELAY_MS, logger };
      const deps: SyncDeps = {
        crm: createCrmClient({ baseUrl: config.crmUrl, ...upstream }),
        inventory: createInventoryClient({ baseUrl: config.inventoryUrl, ...upstream }),
        store: createSyncStore(db),
        logger,
        now: () => new Date(),
      };
      let poller: Poller | undefined;
      return {
        app: createApp(deps),
        start: () => {
          logger.info(`Polling ${config.crmUrl} every ${config.pollIntervalMs} ms into ${config.inventoryUrl}`, {
            crmUrl: config.crmUrl,
            inventoryUrl: config.inventoryUrl,
            pollIntervalMs: config.pollIntervalMs,
            cursor: deps.store.cursor(),
          });
          poller = startPoller({ intervalMs: config.pollIntervalMs, cycle: (shouldStop) => syncNewCustomers(deps, shouldStop), logger });
        },
        stop: async () => {
          await poller?.stop();
          logger.info(`Cursor saved at ${deps.store.cursor()}`, { cursor: deps.store.cursor() });
        },
      };
    }),
);
