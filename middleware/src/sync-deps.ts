import type { Logger, ServiceDatabase } from '@welcome/common';
import { createCrmClient } from './clients/crm-client.js';
import { DEFAULT_DELIVERY_CONCURRENCY } from './config.js';
import { createInventoryClient } from './clients/inventory-client.js';
import { processReplicaId, type ReplicaIdentity } from './domain/heartbeat.js';
import { createJournal, type Journal } from './domain/journey.js';
import { createReconciler, type Reconciler } from './domain/reconciliation.js';
import type { SyncDeps } from './domain/sync.js';
import { createSyncStore, type DeliveryPath, type SyncStore } from './store/sync-store.js';

/** Everything the middleware's app and poller are built from. */
export type MiddlewareDeps = SyncDeps & {
  database: ServiceDatabase;
  /** This process among the replicas sharing the database. */
  replica: ReplicaIdentity;
  /** CRM_WEBHOOK_SECRET: POST /webhooks/crm exists only when it is set. */
  webhookSecret: string | undefined;
  /** API_KEYS of the middleware's own routes: when any, all but the public ones need one. */
  apiKeys: readonly string[];
  /** Reconciliations of the CRM's customers against the Inventory's packages. */
  reconciler: Reconciler;
  /** Where each customer's steps are noted, for GET /customers/{id}/journey. */
  journal: Journal;
  /** TRACE_UI_URL: a trace viewer's page for one trace, `{traceId}` standing for its id. */
  traceUiUrl: string | undefined;
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
 * The store, with this process's own idea of whether its cycles meet an outage: got's retry hook
 * asks synchronously, to log the retries of an outage quietly.
 */
function withOutageKnown(store: SyncStore): { store: SyncStore; inOutage: () => boolean } {
  let inOutage = false;
  return {
    inOutage: () => inOutage,
    store: {
      ...store,
      async markCycleFailed(upstream, error, at) {
        inOutage = true;
        return store.markCycleFailed(upstream, error, at);
      },
      async markCycleSucceeded(at) {
        inOutage = false;
        return store.markCycleSucceeded(at);
      },
    },
  };
}

/** Wires the store and the two upstream clients; retries are logged quietly while an outage is known. */
export function createSyncDeps(options: {
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
  /** API_KEYS of the middleware's own routes. */
  apiKeys?: readonly string[];
  /** RECONCILE_INTERVAL in ms: how often a reconciliation starts on its own; never when undefined. */
  reconcileIntervalMs?: number | undefined;
  /**
   * How often the reconciler looks for a walk to take over or a scheduled one that is due,
   * and how long a walk's lease lasts.
   */
  reconcileTiming?: { checkMs?: number; leaseMs?: number };
  /** TRACE_UI_URL, for the journeys' links to their traces. */
  traceUiUrl?: string | undefined;
  /** This replica's id; the host and pid by default. Tests that run several replicas in one process name each. */
  replicaId?: string;
  now?: () => Date;
}): MiddlewareDeps {
  const concurrency = options.concurrency ?? DEFAULT_DELIVERY_CONCURRENCY;
  const { store, inOutage } = withOutageKnown(createSyncStore(options.database));
  const upstream = {
    timeoutMs: options.timeoutMs,
    retryDelayMs: options.retryDelayMs,
    logger: options.logger,
    quiet: inOutage,
  };
  const longPollS = options.longPollS ?? 0;
  const now = options.now ?? (() => new Date());
  const replica = { id: options.replicaId ?? processReplicaId(), startedAt: now().toISOString() };
  const deps = {
    // The CRM: a page walk, a held long poll, a readiness ping and a replay may be open at once.
    crm: createCrmClient({ baseUrl: options.crmUrl, ...upstream, maxSockets: 4, apiKey: options.crmApiKey }),
    // The Inventory: the poller's deliveries, and room beside them for webhooks, replays and pings.
    inventory: createInventoryClient({
      baseUrl: options.inventoryUrl,
      ...upstream,
      maxSockets: concurrency + 8,
      apiKey: options.inventoryApiKey,
    }),
    store,
    database: options.database,
    logger: options.logger,
    now,
    replica,
    claims: { owner: replica.id, leaseMs: claimLeaseMs(options.timeoutMs, options.retryDelayMs) },
    inFlight: new Map(),
    longPollS,
    concurrency,
    pollPath: (longPollS > 0 ? 'longPoll' : 'poll') as DeliveryPath,
    webhookSecret: options.webhookSecret,
    apiKeys: options.apiKeys ?? [],
    journal: createJournal({ store, logger: options.logger }),
    traceUiUrl: options.traceUiUrl,
  } satisfies Omit<MiddlewareDeps, 'reconciler'>;
  const reconcileIntervalMs = options.reconcileIntervalMs;
  return {
    ...deps,
    reconciler: createReconciler(deps, {
      ...options.reconcileTiming,
      ...(reconcileIntervalMs !== undefined ? { intervalMs: reconcileIntervalMs } : {}),
    }),
  };
}
