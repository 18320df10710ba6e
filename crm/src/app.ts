import { setTimeout } from 'node:timers/promises';
import type Koa from 'koa';
import Router from '@koa/router';
import { Counter, Gauge } from 'prom-client';
import {
  AppError,
  createRegistry,
  createServiceApp,
  databaseChecks,
  type Logger,
  type ServiceDatabase,
  type ServiceParts,
} from '@welcome/common';
import { createWebhookSender, type WebhookSender } from './clients/webhook-sender.js';
import { DEFAULT_MAX_HELD_POLLS, DEFAULT_RETRY_SCHEDULE_MS } from './config.js';
import { createCustomerFeed } from './domain/customer-feed.js';
import { startDispatcher, type Dispatcher } from './domain/dispatcher.js';
import { DEFAULT_WEBHOOK_RETENTION_DAYS, startMessagePruner } from './domain/message-retention.js';
import { ensureEndpoint, MAX_WEBHOOK_ENDPOINTS } from './domain/webhooks.js';
import { crmOpenApi } from './http/openapi.js';
import { addCustomerRoutes } from './http/routes.js';
import { addWebhookRoutes } from './http/webhook-routes.js';
import { createCrmStores } from './store/stores.js';

export interface CrmDeps {
  database: ServiceDatabase;
  logger: Logger;
  now?: () => Date;
  /** The endpoint to make sure of at start (WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_BATCH_SIZE: 1 when not given). */
  webhook?: { url: string; secret: string; batchSize?: number } | undefined;
  webhookRetryScheduleMs?: readonly number[];
  webhookTimeoutMs?: number;
  /** WEBHOOK_DISABLE_AFTER in ms: an endpoint failing every attempt this long is disabled; never when undefined. */
  webhookDisableAfterMs?: number | undefined;
  /**
   * How long a claimed message is one replica's to send; by default long enough for any attempt to
   * end (webhookLeaseMs).
   */
  webhookLeaseMs?: number;
  /** How a webhook message is sent; signed HTTP in production. */
  send?: WebhookSender;
  /** API_KEYS: when any, every route but the public ones needs one. */
  apiKeys?: readonly string[];
  /** WEBHOOK_RETENTION_DAYS: delivered and failed messages are kept this long after their last attempt. */
  webhookRetentionDays?: number;
  /** MAX_HELD_POLLS: long polls held at once, beyond which one is answered 503. */
  maxHeldPolls?: number;
  /**
   * How often held long polls ask the database for its highest id, in case a notification from
   * another replica was lost; by default every second on PostgreSQL, never (null) on SQLite: one process.
   */
  feedRecheckMs?: number | null;
}

/** The CRM's parts; `start` resolves once the WEBHOOK_URL endpoint is in place. */
export interface CrmParts extends ServiceParts {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How many webhook attempts are in flight at once. */
const DISPATCH_CONCURRENCY = 16;

/** Held long polls look for another replica's commits this often, should its notification be lost. */
const FEED_RECHECK_MS = 1000;

/** How soon the WEBHOOK_URL endpoint is tried again when the database could not take it at start. */
const ENSURE_ENDPOINT_RETRY_MS = 5000;

/**
 * A claimed message is the claimer's until the lease ends. An attempt ends within the send
 * timeout (got's request timeout covers the lookup, the connection and the answer's status line);
 * twice that plus 10 s leaves room for recording it on a slow database and for a stalled event
 * loop, so no other replica claims a message while the one sending it lives, and a replica that
 * dies holds its messages back for less than half a minute with the default 5 s timeout.
 */
export const webhookLeaseMs = (timeoutMs: number): number => 2 * timeoutMs + 10_000;

/**
 * The CRM: its HTTP app, and the background work that `start` begins and `stop` ends: the
 * webhook dispatcher, the pruning of its message log, and the long polls held open (answered at
 * once on stop).
 */
export function createCrm(deps: CrmDeps): CrmParts {
  const now = deps.now ?? (() => new Date());
  const { logger } = deps;
  const { customers, webhooks } = createCrmStores(deps.database);
  const defaultRecheckMs = deps.database.kind === 'postgres' ? FEED_RECHECK_MS : null;
  const feed = createCustomerFeed({
    highestId: () => customers.highestId(),
    recheckMs: (deps.feedRecheckMs === undefined ? defaultRecheckMs : deps.feedRecheckMs) ?? undefined,
    logger,
  });
  const webhookTimeoutMs = deps.webhookTimeoutMs ?? 5000;
  let dispatcher: Dispatcher | undefined;
  let pruner: { stop(): Promise<void> } | undefined;
  let watcher: { close(): Promise<void> } | undefined;
  const stopping = new AbortController();

  const registry = createRegistry('crm');
  const customersCreated = new Counter({
    name: 'crm_customers_created_total',
    help: 'Customers registered',
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'crm_webhook_attempts_total',
    help:
      'Webhook delivery attempts, by result: delivered, retrying (failed, another attempt scheduled), ' +
      'failed (schedule spent) or throttled (the endpoint answered 429 or 503 with Retry-After)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'crm_webhook_messages',
    help: 'Webhook messages by status: pending, delivered, failed',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      // While the database cannot be counted the series are left out, and the rest of /metrics still answers.
      const counts = await webhooks.countByStatus().catch(() => undefined);
      this.reset();
      if (counts) for (const [status, count] of Object.entries(counts)) this.set({ status }, count);
    },
  });
  new Gauge({
    name: 'crm_long_polls_held',
    help: 'GET /customers?wait= requests held open now',
    registers: [registry],
    collect() {
      this.set(feed.held());
    },
  });

  const webhookDeps = { webhooks, now, onDue: () => dispatcher?.wake() };
  const router = new Router();
  addCustomerRoutes(router, {
    store: customers,
    feed,
    now,
    maxHeldPolls: deps.maxHeldPolls ?? DEFAULT_MAX_HELD_POLLS,
    onRegistered: () => {
      customersCreated.inc();
      dispatcher?.wake();
    },
  });
  addWebhookRoutes(router, webhookDeps);
  const app: Koa = createServiceApp({
    logger,
    router,
    registry,
    readiness: databaseChecks(deps.database),
    openapi: crmOpenApi,
    apiKeys: deps.apiKeys,
  });

  /** The WEBHOOK_URL endpoint, tried again until the database takes it: a start never fails on it. */
  const ensureConfiguredEndpoint = async (
    wanted: { url: string; secret: string; batchSize: number },
    until: AbortSignal,
  ) => {
    const { url } = wanted;
    for (let tries = 1; !until.aborted; tries += 1) {
      try {
        const { endpoint, created } = await ensureEndpoint(webhookDeps, wanted);
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
  };

  return {
    app,
    async start() {
      // Customers committed by another replica wake this one's long polls and dispatcher.
      watcher = customers.watchCommits({
        committed(highestId) {
          feed.committed(highestId);
          dispatcher?.wake();
        },
        missed() {
          feed.recheck();
          dispatcher?.wake();
        },
      });
      dispatcher = startDispatcher({
        webhooks,
        send:
          deps.send ??
          createWebhookSender({
            timeoutMs: webhookTimeoutMs,
            maxSockets: DISPATCH_CONCURRENCY,
            endpoints: MAX_WEBHOOK_ENDPOINTS,
          }),
        schedule: deps.webhookRetryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS,
        concurrency: DISPATCH_CONCURRENCY,
        leaseMs: deps.webhookLeaseMs ?? webhookLeaseMs(webhookTimeoutMs),
        logger,
        now,
        onAttempt: (result, messages) => attempts.inc({ result }, messages),
        disableAfterMs: deps.webhookDisableAfterMs,
      });
      pruner = startMessagePruner({
        webhooks,
        retentionDays: deps.webhookRetentionDays ?? DEFAULT_WEBHOOK_RETENTION_DAYS,
        logger,
        now,
      });
      if (deps.webhook) await ensureConfiguredEndpoint({ batchSize: 1, ...deps.webhook }, stopping.signal);
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

/** The CRM's HTTP app alone, without its background work: for tests that need only the API. */
export function createApp(deps: CrmDeps): Koa {
  return createCrm(deps).app;
}
