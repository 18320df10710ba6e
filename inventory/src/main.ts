import { runService, startService } from '@welcome/common';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { inventoryPostgres } from './store/package-store.js';

await runService(
  'inventory',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('inventory', config, inventoryPostgres, (database, logger) => ({
      app: createApp({ database, logger, apiKeys: config.apiKeys }),
    })),
);
