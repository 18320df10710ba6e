import { runService, startService } from '@welcome/common';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { inventorySchema } from './store/schema.js';

await runService(
  'inventory',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('inventory', config, inventorySchema, (database, logger) => ({
      app: createApp({ database, logger, apiKeys: config.apiKeys }),
    })),
);
