import type { Logger, ServiceDatabase } from '@welcome/common';
import { createCrmClient, type CrmClient } from './clients/crm-client.js';
import { createInventoryClient, type InventoryClient } from './clients/inventory-client.js';
import { DEFAULT_BREAKER_FAILURES, DEFAULT_BREAKER_PROBE_MS, DEFAULT_DELIVERY_CONCURRENCY } from './config.js';
import type { WebhookHandling } from './domain/crm-webhook.js';
import type { Replaying } from './domain/dead-letters.js';
import { createDeliveryCore, type DeliveryCore } from './domain/delivery/core.js';
import { createAdaptiveLimit } from './domain/flow/adaptive-limit.js';
import type { DeliveryControl } from './domain/flow/control.js';
import { createInventoryGate, type GateSettings, type InventoryGate } from './domain/flow/gate.js';
import { processReplicaId, type Heartbeating, type ReplicaIdentity } from './domain/heartbeat.js';
import { createJournal, type Journal, type JourneyViews } from './domain/journey.js';
import { createReconciler, type Reconciler, type ReconcilerOptions } from './domain/reconciliation/reconciler.js';
import type { StatusReading } from './domain/status.js';
import type { Polling } from './domain/sync.js';
import { createMiddlewareStores, type MiddlewareStores, type StatusStore } from './store/stores.js';

/**
 * The middleware's parts, wired once: its stores, its clients, the delivery core and the
 * reconciler, and what each of the domain's entry points is given of them.
 */
export interface Middleware {
  database: ServiceDatabase;
  logger: Logger;
  now: () => Date;
  /** This process among the replicas sharing the database. */
  replica: ReplicaIdentity;
  stores: MiddlewareStores;
  crm: CrmClient;
  inventory: InventoryClient;
  journal: Journal;
  delivery: DeliveryCore;
  /** Flow control toward the Inventory: every ask goes through it. */
  gate: InventoryGate;
  deliveryControl: DeliveryControl;
  reconciler: Reconciler;
  polling: Polling;
  /** POST /webhooks/crm exists only with CRM_WEBHOOK_SECRET. */
  webhooks: (WebhookHandling & { secret: string }) | undefined;
  replaying: Replaying;
  statusReading: StatusReading;
  heartbeat: Heartbeating;
  journeyViews: JourneyViews;
  /** API_KEYS of the middleware's own routes: when any, all but the public ones need one. */
  apiKeys: readonly string[];
}

export interface MiddlewareOptions {
  database: ServiceDatabase;
  logger: Logger;
  crmUrl: string;
  inventoryUrl: string;
  timeoutMs: number;
  retryDelayMs: number;
  longPollS?: number;
  webhookSecret?: string | undefined;
  concurrency?: number;
  /** CRM_API_KEY and INVENTORY_API_KEY, sent to each upstream when set. */
  crmApiKey?: string | undefined;
  inventoryApiKey?: string | undefined;
  apiKeys?: readonly string[];
  /** RECONCILE_INTERVAL, and how often the reconciler looks for a walk to take over and how long its lease lasts. */
  reconcile?: ReconcilerOptions;
  /** TRACE_UI_URL, for the journeys' links to their traces. */
  traceUiUrl?: string | undefined;
  /** INVENTORY_RATE_LIMIT, BREAKER_FAILURES and BREAKER_PROBE_INTERVAL: flow control toward the Inventory. */
  flow?: Partial<GateSettings>;
  /** This replica's id; the host and pid by default. Tests that run several replicas in one process name each. */
  replicaId?: string;
  now?: () => Date;
}

/** Flow control when the configuration says nothing: no rate limit, the breaker's defaults. */
const DEFAULT_GATE: GateSettings = {
  ratePerSecond: undefined,
  breakerFailures: DEFAULT_BREAKER_FAILURES,
  probeMs: DEFAULT_BREAKER_PROBE_MS,
};

/**
 * How long a replica holds a customer it asks the Inventory for. One ask is two attempts of at
 * most `timeoutMs` each with got's retry delay between them; twice that leaves room for the
 * commit of the answer and a busy event loop, so that in normal running no lease ends while its
 * ask is still going (another replica would then ask again), while a replica that died holding
 * customers leaves them to the others within seconds.
 */
export const claimLeaseMs = (timeoutMs: number, retryDelayMs: number): number => 4 * timeoutMs + retryDelayMs;

/**
 * The status store, with this process's own idea of whether its cycles meet an outage: got's retry
 * hook asks synchronously, to log the retries of an outage quietly.
 */
function withOutageKnown(status: StatusStore): { status: StatusStore; inOutage: () => boolean } {
  let inOutage = false;
  return {
    inOutage: () => inOutage,
    status: {
      ...status,
      async markCycleFailed(upstream, error, at) {
        inOutage = true;
        return status.markCycleFailed(upstream, error, at);
      },
      async markCycleSucceeded(at) {
        inOutage = false;
        return status.markCycleSucceeded(at);
      },
    },
  };
}

/** Wires the middleware: the stores on its database, the two upstream clients, the delivery core and the reconciler. */
export function wireMiddleware(options: MiddlewareOptions): Middleware {
  const { database, logger } = options;
  const concurrency = options.concurrency ?? DEFAULT_DELIVERY_CONCURRENCY;
  const created = createMiddlewareStores(database);
  const { status, inOutage } = withOutageKnown(created.status);
  const stores = { ...created, status };
  const upstream = { timeoutMs: options.timeoutMs, retryDelayMs: options.retryDelayMs, logger, quiet: inOutage };
  const now = options.now ?? (() => new Date());
  const replica = { id: options.replicaId ?? processReplicaId(), startedAt: now().toISOString() };
  // The CRM: a page walk, a held long poll, a readiness ping and a replay may be open at once.
  const crm = createCrmClient({ baseUrl: options.crmUrl, ...upstream, maxSockets: 4, apiKey: options.crmApiKey });
  // The Inventory: the poller's deliveries, and room beside them for webhooks, replays and pings.
  const inventory = createInventoryClient({
    baseUrl: options.inventoryUrl,
    ...upstream,
    maxSockets: concurrency + 8,
    apiKey: options.inventoryApiKey,
  });
  const journal = createJournal({ journeys: stores.journeys, logger });
  const { deliveries, deadLetters, reconciliations, flow } = stores;
  // An answer slower than half the timeout is no reason to let more asks in at once.
  const limit = createAdaptiveLimit({ ceiling: concurrency, slowMs: options.timeoutMs / 2 });
  const gate = createInventoryGate({ flow, limit, logger }, { ...DEFAULT_GATE, ...options.flow });
  const claims = { owner: replica.id, leaseMs: claimLeaseMs(options.timeoutMs, options.retryDelayMs) };
  const delivery = createDeliveryCore({ inventory, gate, logger, now, journal, deliveries, deadLetters, claims });
  // A reconciliation's pages of packages are asks of the Inventory as any other.
  const pagedInventory = {
    packagesByCustomer: (after: number, pageSize?: number) => gate.pages(inventory.packagesByCustomer(after, pageSize)),
  };
  const reconciler = createReconciler(
    {
      crm,
      inventory: pagedInventory,
      delivery,
      deliveries,
      deadLetters,
      reconciliations,
      owner: replica.id,
      logger,
      now,
    },
    options.reconcile,
  );
  const longPollS = options.longPollS ?? 0;
  const secret = options.webhookSecret;
  return {
    database,
    logger,
    now,
    replica,
    stores,
    crm,
    inventory,
    journal,
    delivery,
    gate,
    deliveryControl: { flow, logger, now },
    reconciler,
    polling: {
      crm,
      delivery,
      deliveries,
      status,
      poll: { path: longPollS > 0 ? 'longPoll' : 'poll', longPollS, concurrency },
      logger,
      now,
    },
    webhooks:
      secret === undefined
        ? undefined
        : { secret, delivery, logger, noteWebhook: (customerId) => status.markWebhookReceived(now(), customerId) },
    replaying: { deadLetters, crm, delivery, logger },
    statusReading: { status, reconciliations, flow, now },
    heartbeat: { status, logger, now, replica },
    journeyViews: { journeys: stores.journeys, traceUiUrl: options.traceUiUrl },
    apiKeys: options.apiKeys ?? [],
  };
}
