import { runService, startService } from '@welcome/common';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { createCustomerStore } from './store/customer-store.js';

await runService(
  'crm',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('crm', config, (db, logger) => ({
      app: createApp({ store: createCustomerStore(db), logger }),
    })),
);
