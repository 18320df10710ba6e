import { setTimeout } from 'node:timers/promises';
import { AppError, type Logger } from '@welcome/common';
import { createWebhookSender, type WebhookSender } from './clients/webhook-sender.js';
import type { CustomerFeed } from './domain/customer-feed.js';
import { startDispatcher, type Dispatcher, type DispatcherOptions } from './domain/dispatcher.js';
import { startMessagePruner } from './domain/message-retention.js';
import { ensureEndpoint, MAX_WEBHOOK_ENDPOINTS, type WebhookDeps } from './domain/webhooks.js';
import type { CrmStores } from './store/stores.js';

/** How many webhook attempts are in flight at once. */
const DISPATCH_CONCURRENCY = 16;

/** How soon the WEBHOOK_URL endpoint is tried again when the database could not take it at start. */
const ENSURE_ENDPOINT_RETRY_MS = 5000;

/** The endpoint to make sure of at start (WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_BATCH_SIZE). */
export interface WantedEndpoint {
  url: string;
  secret: string;
  batchSize: number;
}

export interface CrmBackgroundOptions {
  stores: CrmStores;
  feed: CustomerFeed;
  logger: Logger;
  now: () => Date;
  /** How a webhook message is sent; when not given, signed HTTP with this timeout, made at start. */
  send: WebhookSender | undefined;
  webhookTimeoutMs: number;
  retryScheduleMs: readonly number[];
  leaseMs: number;
  retentionDays: number;
  webhook: WantedEndpoint | undefined;
  onAttempt: DispatcherOptions['onAttempt'];
  /** WEBHOOK_DISABLE_AFTER in ms: an endpoint failing every attempt this long is disabled; never when undefined. */
  disableAfterMs: number | undefined;
}

/** What the CRM runs besides answering requests: begun by `start`, ended by `stop`. */
export interface CrmBackground {
  /** A message may be due now: the dispatcher, once started, looks at once. */
  wake(): void;
  /** Resolves once the WEBHOOK_URL endpoint is in place. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The webhook dispatcher, the pruning of its message log, and the watch on other replicas' commits
 * that wakes the long polls and the dispatcher; `stop` also answers at once the long polls held open.
 */
export function createCrmBackground(options: CrmBackgroundOptions): CrmBackground {
  const { stores, feed, logger, now } = options;
  let dispatcher: Dispatcher | undefined;
  let pruner: { stop(): Promise<void> } | undefined;
  let watcher: { close(): Promise<void> } | undefined;
  const stopping = new AbortController();
  const wake = () => dispatcher?.wake();

  return {
    wake,
    async start() {
      // Customers committed by another replica wake this one's long polls and dispatcher.
      watcher = stores.customers.watchCommits({
        committed(highestId) {
          feed.committed(highestId);
          wake();
        },
        missed() {
          feed.recheck();
          wake();
        },
      });
      dispatcher = startDispatcher({
        webhooks: stores.webhooks,
        send: options.send ?? createDefaultSender(options.webhookTimeoutMs),
        schedule: options.retryScheduleMs,
        concurrency: DISPATCH_CONCURRENCY,
        leaseMs: options.leaseMs,
        logger,
        now,
        onAttempt: options.onAttempt,
        disableAfterMs: options.disableAfterMs,
      });
      pruner = startMessagePruner({ webhooks: stores.webhooks, retentionDays: options.retentionDays, logger, now });
      if (options.webhook) {
        const webhookDeps = { webhooks: stores.webhooks, now, onDue: wake };
        await ensureConfiguredEndpoint(webhookDeps, options.webhook, logger, stopping.signal);
      }
    },
    async stop() {
      stopping.abort();
      feed.releaseAll();
      await watcher?.close();
      await dispatcher?.stop();
      await pruner?.stop();
    },
  };
}

function createDefaultSender(timeoutMs: number): WebhookSender {
  return createWebhookSender({ timeoutMs, maxSockets: DISPATCH_CONCURRENCY, endpoints: MAX_WEBHOOK_ENDPOINTS });
}

/** The WEBHOOK_URL endpoint, tried again until the database takes it: a start never fails on it. */
async function ensureConfiguredEndpoint(
  deps: WebhookDeps,
  wanted: WantedEndpoint,
  logger: Logger,
  until: AbortSignal,
): Promise<void> {
  const { url } = wanted;
  for (let tries = 1; !until.aborted; tries += 1) {
    try {
      const { endpoint, created } = await ensureEndpoint(deps, wanted);
      logger.info(
        `Webhook endpoint ${endpoint.id} ${created ? 'created' : 'in place'} for ${endpoint.url} (WEBHOOK_URL)`,
        {
          endpointId: endpoint.id,
          url: endpoint.url,
          batchSize: endpoint.batchSize,
        },
      );
      return;
    } catch (error) {
      if (error instanceof AppError && error.status < 500) {
        logger.error(`The WEBHOOK_URL endpoint cannot be made: ${error.detail}`, { url });
        return;
      }
      if (tries === 1) {
        const retry = `trying again every ${ENSURE_ENDPOINT_RETRY_MS / 1000} s`;
        logger.error(`The WEBHOOK_URL endpoint cannot be made yet (${(error as Error).message}); ${retry}`, { url });
      }
      await setTimeout(ENSURE_ENDPOINT_RETRY_MS, undefined, { signal: until }).catch(() => undefined);
    }
  }
}
