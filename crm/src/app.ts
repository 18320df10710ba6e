import type Koa from 'koa';
import Router from '@koa/router';
import { Counter, Gauge } from 'prom-client';
import { createRegistry, createServiceApp, databaseChecks, type Logger, type ServiceDatabase, type ServiceParts } from '@welcome/common';
import { createWebhookSender, type WebhookSender } from './clients/webhook-sender.js';
import { DEFAULT_MAX_HELD_POLLS, DEFAULT_RETRY_SCHEDULE_MS } from './config.js';
import { createCustomerFeed } from './domain/customer-feed.js';
import { startDispatcher, type Dispatcher } from './domain/dispatcher.js';
import { ensureEndpoint } from './domain/webhooks.js';
import { crmOpenApi } from './http/openapi.js';
import { addCustomerRoutes } from './http/routes.js';
import { addWebhookRoutes } from './http/webhook-routes.js';
import { createCustomerStore } from './store/customer-store.js';
import { createWebhookStore } from './store/webhook-store.js';

export interface CrmDeps {
  database: ServiceDatabase;
  logger: Logger;
  now?: () => Date;
  /** The endpoint to make sure of at start (WEBHOOK_URL, WEBHOOK_SECRET). */
  webhook?: { url: string; secret: string } | undefined;
  webhookRetryScheduleMs?: readonly number[];
  webhookTimeoutMs?: number;
  /** How a webhook message is sent; signed HTTP in production. */
  send?: WebhookSender;
  /** API_KEYS: when any, every route but the public ones needs one. */
  apiKeys?: readonly string[];
  /** MAX_HELD_POLLS: long polls held at once, beyond which one is answered 503. */
  maxHeldPolls?: number;
}

/** How many webhook attempts are in flight at once. */
const DISPATCH_CONCURRENCY = 16;

/**
 * The CRM: its HTTP app, and the background work that `start` begins and `stop` ends: the
 * webhook dispatcher, and the long polls held open (answered at once on stop).
 */
export function createCrm(deps: CrmDeps): ServiceParts {
  const now = deps.now ?? (() => new Date());
  if (deps.database.kind !== 'sqlite') throw new Error('the CRM keeps its data in SQLite');
  const { db, storage } = deps.database;
  const webhooks = createWebhookStore(db, storage);
  const feed = createCustomerFeed();
  let dispatcher: Dispatcher | undefined;

  const registry = createRegistry('crm');
  const customersCreated = new Counter({ name: 'crm_customers_created_total', help: 'Customers registered', registers: [registry] });
  const attempts = new Counter({
    name: 'crm_webhook_attempts_total',
    help: 'Webhook delivery attempts, by result: delivered, retrying (failed, another attempt scheduled) or failed (schedule spent)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'crm_webhook_messages',
    help: 'Webhook messages by status: pending, delivered, failed',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      for (const [status, count] of Object.entries(webhooks.countByStatus())) this.set({ status }, count);
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
    store: createCustomerStore(db, storage),
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
    logger: deps.logger,
    router,
    registry,
    readiness: databaseChecks(deps.database),
    openapi: crmOpenApi,
    apiKeys: deps.apiKeys,
  });

  return {
    app,
    start() {
      if (deps.webhook) {
        const { endpoint, created } = ensureEndpoint(webhookDeps, deps.webhook.url, deps.webhook.secret);
        deps.logger.info(`Webhook endpoint ${endpoint.id} ${created ? 'created' : 'in place'} for ${endpoint.url} (WEBHOOK_URL)`, { endpointId: endpoint.id, url: endpoint.url });
      }
      dispatcher = startDispatcher({
        webhooks,
        send: deps.send ?? createWebhookSender({ timeoutMs: deps.webhookTimeoutMs ?? 5000, maxSockets: DISPATCH_CONCURRENCY }),
        schedule: deps.webhookRetryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS,
        concurrency: DISPATCH_CONCURRENCY,
        logger: deps.logger,
        now,
        onAttempt: (result) => attempts.inc({ result }),
      });
    },
    async stop() {
      feed.releaseAll();
      await dispatcher?.stop();
    },
  };
}

/** The CRM's HTTP app alone, without its background work: for tests that need only the API. */
export function createApp(deps: CrmDeps): Koa {
  return createCrm(deps).app;
}
