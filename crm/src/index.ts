import { runService, startService } from '@welcome/common';
import { createApp } from './app.js';
import { loadConfig } from './config.js';

await runService(
  'crm',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('crm', config, (db, logger) => ({
      app: createApp({ db, logger }),
    })),
);
