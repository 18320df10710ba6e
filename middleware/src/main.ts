import { runService, startService } from '@welcome/common';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { startHeartbeat } from './domain/heartbeat.js';
import { startJourneyRetention } from './domain/journey-retention.js';
import { startPoller, type Poller } from './domain/poller.js';
import { logIdleSummary } from './domain/status.js';
import { syncNewCustomers } from './domain/sync.js';
import { middlewareSchema } from './store/schema.js';
import { wireMiddleware } from './wiring.js';

const RETRY_DELAY_MS = 1000;
const IDLE_SUMMARY_MS = 60_000;

await runService(
  'middleware',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('middleware', config, middlewareSchema, (database, logger) => {
      const deps = wireMiddleware({
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
        reconcile: { intervalMs: config.reconcileIntervalMs },
        flow: {
          ratePerSecond: config.inventoryRateLimit,
          breakerFailures: config.breakerFailures,
          probeMs: config.breakerProbeMs,
        },
        traceUiUrl: config.traceUiUrl,
      });
      // The cursor for a log line; while the database cannot be reached, the line goes without it.
      const cursorNow = () => deps.stores.deliveries.cursor().catch(() => undefined);
      let poller: Poller | undefined;
      let heartbeat: ReturnType<typeof startHeartbeat> | undefined;
      let journeyRetention: ReturnType<typeof startJourneyRetention> | undefined;
      return {
        app: createApp(deps),
        start: () => {
          const polling =
            config.longPollS > 0
              ? `Long polling ${config.crmUrl} (held up to ${config.longPollS} s)`
              : `Polling ${config.crmUrl} every ${config.pollIntervalMs} ms`;
          const push = config.crmWebhookSecret ? '; CRM webhooks accepted at POST /webhooks/crm' : '';
          const fields = {
            crmUrl: config.crmUrl,
            inventoryUrl: config.inventoryUrl,
            pollIntervalMs: config.pollIntervalMs,
            longPollS: config.longPollS,
            deliveryConcurrency: config.deliveryConcurrency,
            webhooks: config.crmWebhookSecret !== undefined,
            replica: deps.replica.id,
            reconcileIntervalMs: config.reconcileIntervalMs ?? null,
          };
          void cursorNow().then((cursor) =>
            logger.info(`${polling} into ${config.inventoryUrl}${push}`, { ...fields, cursor }),
          );
          heartbeat = startHeartbeat(deps.heartbeat);
          deps.reconciler.startTimers();
          journeyRetention = startJourneyRetention({
            journeys: deps.stores.journeys,
            retentionDays: config.journeyRetentionDays,
            logger,
            now: deps.now,
          });
          poller = startPoller({
            intervalMs: config.pollIntervalMs,
            maxBackoffMs: config.backoffMaxMs,
            cycle: (shouldStop, signal) => syncNewCustomers(deps.polling, shouldStop, signal),
            longPoll: config.longPollS > 0,
            logger,
            idleSummary: {
              everyMs: IDLE_SUMMARY_MS,
              log: () => logIdleSummary({ status: deps.stores.status, logger, now: deps.now }),
            },
          });
        },
        stop: async () => {
          await poller?.stop();
          await deps.reconciler.stop();
          await journeyRetention?.stop();
          await deps.journal.flush();
          await heartbeat?.stop();
          const cursor = await cursorNow();
          if (cursor === undefined)
            logger.warn('Stopped; the cursor could not be read back, the database does not answer');
          else logger.info(`Cursor saved at ${cursor}`, { cursor });
        },
      };
    }),
);
