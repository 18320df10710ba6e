import type Koa from 'koa';
import Router from '@koa/router';
import {
  createServiceApp,
  databaseChecks,
  type Logger,
  type ServiceDatabase,
  type ServiceParts,
} from '@welcome/common';
import { createCrmBackground, type CrmBackground } from './background.js';
import type { WebhookSender } from './clients/webhook-sender.js';
import { DEFAULT_MAX_HELD_POLLS, DEFAULT_RETRY_SCHEDULE_MS } from './config.js';
import { createCustomerFeed, type CustomerFeed } from './domain/customer-feed.js';
import { DEFAULT_WEBHOOK_RETENTION_DAYS } from './domain/message-retention.js';
import { crmOpenApi } from './http/openapi.js';
import { addCustomerRoutes } from './http/routes.js';
import { addWebhookRoutes } from './http/webhook-routes.js';
import { createCrmMetrics, type CrmMetrics } from './metrics.js';
import { createCrmStores, type CrmStores } from './store/stores.js';

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

/** Held long polls look for another replica's commits this often, should its notification be lost. */
const FEED_RECHECK_MS = 1000;

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
  const stores = createCrmStores(deps.database);
  const feed = createCustomerFeed({
    highestId: () => stores.customers.highestId(),
    recheckMs: feedRecheckMs(deps),
    logger: deps.logger,
  });
  const metrics = createCrmMetrics(stores.webhooks, feed);
  const background = createCrmBackground({
    ...backgroundSettings(deps),
    stores,
    feed,
    logger: deps.logger,
    now,
    onAttempt: (result, messages) => metrics.attempts.inc({ result }, messages),
  });
  const router = createCrmRouter(deps, { stores, feed, now, metrics, background });
  const app: Koa = createServiceApp({
    logger: deps.logger,
    router,
    registry: metrics.registry,
    readiness: databaseChecks(deps.database),
    openapi: crmOpenApi,
    apiKeys: deps.apiKeys,
  });
  return { app, start: () => background.start(), stop: () => background.stop() };
}

/** Held long polls recheck by default on PostgreSQL only: on SQLite, one process makes every commit. */
function feedRecheckMs(deps: CrmDeps): number | undefined {
  if (deps.feedRecheckMs !== undefined) return deps.feedRecheckMs ?? undefined;
  return deps.database.kind === 'postgres' ? FEED_RECHECK_MS : undefined;
}

/** The background work's settings, each the configuration's or its default. */
function backgroundSettings(deps: CrmDeps) {
  const webhookTimeoutMs = deps.webhookTimeoutMs ?? 5000;
  return {
    send: deps.send,
    webhookTimeoutMs,
    retryScheduleMs: deps.webhookRetryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS,
    leaseMs: deps.webhookLeaseMs ?? webhookLeaseMs(webhookTimeoutMs),
    retentionDays: deps.webhookRetentionDays ?? DEFAULT_WEBHOOK_RETENTION_DAYS,
    disableAfterMs: deps.webhookDisableAfterMs,
    webhook: deps.webhook && { batchSize: 1, ...deps.webhook },
  };
}

/** The customer and webhook routes; a customer registered or a message made due wakes the dispatcher. */
function createCrmRouter(
  deps: CrmDeps,
  parts: { stores: CrmStores; feed: CustomerFeed; now: () => Date; metrics: CrmMetrics; background: CrmBackground },
): Router {
  const { stores, feed, now, metrics, background } = parts;
  const router = new Router();
  addCustomerRoutes(router, {
    store: stores.customers,
    feed,
    now,
    maxHeldPolls: deps.maxHeldPolls ?? DEFAULT_MAX_HELD_POLLS,
    onRegistered: () => {
      metrics.customersCreated.inc();
      background.wake();
    },
  });
  addWebhookRoutes(router, { webhooks: stores.webhooks, now, onDue: () => background.wake() });
  return router;
}

/** The CRM's HTTP app alone, without its background work: for tests that need only the API. */
export function createApp(deps: CrmDeps): Koa {
  return createCrm(deps).app;
}
