import { runService, startService } from '@welcome/common';
import { createApp } from './app.js';
import { loadConfig } from './config.js';

await runService(
  'inventory',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('inventory', config, (db, logger) => ({
      app: createApp({ db, logger, apiKeys: config.apiKeys }),
    })),
);
