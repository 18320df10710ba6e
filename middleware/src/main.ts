import { runService, startService, type Logger, type ServiceDatabase, type ServiceParts } from '@welcome/common';
import { createApp } from './app.js';
import { loadConfig, type MiddlewareConfig } from './config.js';
import { startHeartbeat } from './domain/heartbeat.js';
import { startJourneyRetention } from './domain/journey-retention.js';
import { startPoller, type Poller } from './domain/poller.js';
import { logIdleSummary } from './domain/status.js';
import { syncNewCustomers } from './domain/sync.js';
import { middlewareSchema } from './store/schema.js';
import { wireMiddleware, type Middleware, type MiddlewareOptions } from './wiring.js';

const RETRY_DELAY_MS = 1000;
const IDLE_SUMMARY_MS = 60_000;

type Config = Readonly<MiddlewareConfig>;

// The service is built and started within this await, before the rest of the module is evaluated:
// what it calls below is declared with `function`, which is hoisted, and not as a const.
await runService(
  'middleware',
  () => loadConfig(process.env, Boolean(process.stdout.isTTY)),
  (config) =>
    startService('middleware', config, middlewareSchema, (database, logger) =>
      buildMiddleware(config, database, logger),
    ),
);

/** The middleware's app, and its background work: begun by `start`, ended by `stop`. */
function buildMiddleware(config: Config, database: ServiceDatabase, logger: Logger): ServiceParts {
  const deps = wireMiddleware(wiringOptions(config, database, logger));
  let poller: Poller | undefined;
  let heartbeat: ReturnType<typeof startHeartbeat> | undefined;
  let journeyRetention: ReturnType<typeof startJourneyRetention> | undefined;
  return {
    app: createApp(deps),
    start: () => {
      announceStart(config, deps, logger);
      heartbeat = startHeartbeat(deps.heartbeat);
      deps.reconciler.startTimers();
      journeyRetention = startJourneyRetention({
        journeys: deps.stores.journeys,
        retentionDays: config.journeyRetentionDays,
        logger,
        now: deps.now,
      });
      poller = startSyncPoller(config, deps, logger);
    },
    stop: async () => {
      await poller?.stop();
      await deps.reconciler.stop();
      await journeyRetention?.stop();
      await deps.journal.flush();
      await heartbeat?.stop();
      const cursor = await cursorNow(deps);
      if (cursor === undefined) logger.warn('Stopped; the cursor could not be read back, the database does not answer');
      else logger.info(`Cursor saved at ${cursor}`, { cursor });
    },
  };
}

function wiringOptions(config: Config, database: ServiceDatabase, logger: Logger): MiddlewareOptions {
  return {
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
  };
}

/** The cursor for a log line; while the database cannot be reached, the line goes without it. */
function cursorNow(deps: Middleware): Promise<number | undefined> {
  return deps.stores.deliveries.cursor().catch(() => undefined);
}

/** Says once how the middleware takes its customers, and where it sends them. */
function announceStart(config: Config, deps: Middleware, logger: Logger): void {
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
  void cursorNow(deps).then((cursor) =>
    logger.info(`${polling} into ${config.inventoryUrl}${push}`, { ...fields, cursor }),
  );
}

function startSyncPoller(config: Config, deps: Middleware, logger: Logger): Poller {
  return startPoller({
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
}
