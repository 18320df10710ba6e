import { runService, startService } from '@welcome/common';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { startPoller, type Poller } from './domain/poller.js';
import { logIdleSummary, syncNewCustomers } from './domain/sync.js';
import { createSyncDeps } from './sync-deps.js';

const RETRY_DELAY_MS = 1000;
const IDLE_SUMMARY_MS = 60_000;

await runService(
  'middleware',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('middleware', config, [], (database, logger) => {
      const deps = createSyncDeps({
        database,
        logger,
        crmUrl: config.crmUrl,
        inventoryUrl: config.inventoryUrl,
        timeoutMs: config.httpTimeoutMs,
        retryDelayMs: RETRY_DELAY_MS,
        longPollS: config.longPollS,
        webhookSecret: config.crmWebhookSecret,
        concurrency: config.deliveryConcurrency,
        crmApiKey: config.crmApiKey,
        inventoryApiKey: config.inventoryApiKey,
        apiKeys: config.apiKeys,
      });
      let poller: Poller | undefined;
      return {
        app: createApp(deps),
        start: () => {
          const polling = config.longPollS > 0 ? `Long polling ${config.crmUrl} (held up to ${config.longPollS} s)` : `Polling ${config.crmUrl} every ${config.pollIntervalMs} ms`;
          const push = config.crmWebhookSecret ? '; CRM webhooks accepted at POST /webhooks/crm' : '';
          logger.info(`${polling} into ${config.inventoryUrl}${push}`, {
            crmUrl: config.crmUrl,
            inventoryUrl: config.inventoryUrl,
            pollIntervalMs: config.pollIntervalMs,
            longPollS: config.longPollS,
            deliveryConcurrency: config.deliveryConcurrency,
            webhooks: config.crmWebhookSecret !== undefined,
            cursor: deps.store.cursor(),
          });
          poller = startPoller({
            intervalMs: config.pollIntervalMs,
            maxBackoffMs: config.backoffMaxMs,
            cycle: (shouldStop, signal) => syncNewCustomers(deps, shouldStop, signal),
            longPoll: config.longPollS > 0,
            logger,
            idleSummary: { everyMs: IDLE_SUMMARY_MS, log: () => logIdleSummary(deps) },
          });
        },
        stop: async () => {
          await poller?.stop();
          logger.info(`Cursor saved at ${deps.store.cursor()}`, { cursor: deps.store.cursor() });
        },
      };
    }),
);
