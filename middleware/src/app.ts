import type Koa from 'koa';
import { Counter, Gauge, type Registry } from 'prom-client';
import { createRegistry, createServiceApp, databaseChecks } from '@welcome/common';
import { middlewareOpenApi } from './http/openapi.js';
import { CRM_WEBHOOK_PATH, createMiddlewareRouter } from './http/routes.js';
import type { Status } from './domain/model/status.js';
import { syncStatus } from './domain/status.js';
import type { Middleware } from './wiring.js';

/**
 * Gauges read from the store at each scrape: its counters survive restarts and are shared by the
 * replicas, so they are its to tell. One read serves every gauge of a scrape; while the store
 * cannot be read, the gauges keep their last values and the process's own metrics are still served.
 */
function addSyncMetrics(registry: Registry, status: () => Promise<Status>): void {
  let reading: Promise<Status | undefined> | undefined;
  const readOnce = () =>
    (reading ??= status()
      .catch(() => undefined)
      .finally(() => {
        reading = undefined;
      }));
  const gauges: Array<[string, string, (s: Status) => number]> = [
    ['middleware_packages_created', 'Packages this middleware created', (s) => s.created],
    ['middleware_packages_already_there', 'Customers whose package the Inventory already had', (s) => s.alreadyThere],
    ['middleware_failed_cycles', 'Sync cycles that stopped on an unavailable upstream', (s) => s.failedCycles],
    ['middleware_dead_letters', 'Dead letters waiting', (s) => s.deadLetters],
    ['middleware_cursor', 'The id of the last customer handled', (s) => s.cursor],
    ['middleware_lag', 'How many ids the cursor is behind the highest the CRM has shown', (s) => s.lag],
    ['middleware_outage', '1 while an upstream is failing, else 0', (s) => (s.outage ? 1 : 0)],
    [
      'middleware_deliveries_webhook',
      'Packages confirmed for customers a CRM webhook brought',
      (s) => s.deliveriesByPath.webhook,
    ],
    [
      'middleware_deliveries_long_poll',
      'Packages confirmed for customers a long poll brought',
      (s) => s.deliveriesByPath.longPoll,
    ],
    [
      'middleware_deliveries_poll',
      'Packages confirmed for customers a plain poll brought',
      (s) => s.deliveriesByPath.poll,
    ],
    [
      'middleware_last_webhook_timestamp_seconds',
      'When the last signed CRM webhook arrived (Unix time; 0 before the first)',
      (s) => (s.lastWebhookAt ? Date.parse(s.lastWebhookAt) / 1000 : 0),
    ],
    [
      'middleware_last_success_timestamp_seconds',
      'When the last sync cycle succeeded (Unix time; 0 before the first): alert when it stops moving',
      (s) => (s.lastSuccessAt ? Date.parse(s.lastSuccessAt) / 1000 : 0),
    ],
    [
      'middleware_delivery_paused',
      '1 while delivery to the Inventory is paused (POST /delivery/pause), else 0',
      (s) => (s.paused ? 1 : 0),
    ],
    [
      'middleware_inventory_breaker_state',
      'The circuit breaker toward the Inventory: 0 closed, 1 half-open (a probe in flight), 2 open',
      (s) => ({ closed: 0, halfOpen: 1, open: 2 })[s.breaker.state],
    ],
    [
      'middleware_inventory_throttled_seconds',
      "Seconds left of the Inventory's Retry-After, during which nothing is sent to it; 0 when none runs",
      (s) => (s.throttle ? Math.max(0, (Date.parse(s.throttle.until) - Date.now()) / 1000) : 0),
    ],
  ];
  for (const [name, help, read] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const current = await readOnce();
        if (current) this.set(read(current));
      },
    });
  }
}

/** What this process itself did, not the replicas together: its share of the work. */
function addProcessMetrics(registry: Registry, deps: Pick<Middleware, 'inventory' | 'reconciler' | 'gate'>): void {
  new Gauge({
    name: 'middleware_inventory_concurrency_limit',
    help:
      'How many asks of the Inventory this process lets be in flight at once now ' +
      '(adaptive, at most DELIVERY_CONCURRENCY)',
    registers: [registry],
    collect() {
      this.set(deps.gate.concurrency().limit);
    },
  });
  new Gauge({
    name: 'middleware_inventory_in_flight',
    help: 'Asks of the Inventory this process has in flight now',
    registers: [registry],
    collect() {
      this.set(deps.gate.concurrency().inFlight);
    },
  });
  new Counter({
    name: 'middleware_inventory_throttled_total',
    help: 'Answers of the Inventory that asked this process to wait (429 or 503 with Retry-After)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(deps.gate.throttledCount());
    },
  });
  new Counter({
    name: 'middleware_inventory_asks_total',
    help: 'Packages this process asked the Inventory for (each ask once, whatever the retry did)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(deps.inventory.asks());
    },
  });
  const findings = new Counter({
    name: 'middleware_reconciliation_findings_total',
    help: "What this process's reconciliations found, by kind: missing, mismatched, orphaned",
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      const tally = deps.reconciler.tally();
      findings.reset();
      for (const kind of ['missing', 'mismatched', 'orphaned'] as const) findings.inc({ kind }, tally[kind]);
    },
  });
  new Counter({
    name: 'middleware_reconciliation_repairs_total',
    help: "Missing packages this process's reconciliations had made (or found made meanwhile)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(deps.reconciler.tally().repaired);
    },
  });
}

export function createApp(deps: Middleware): Koa {
  const registry = createRegistry('middleware');
  addSyncMetrics(registry, () => syncStatus(deps.statusReading));
  addProcessMetrics(registry, deps);
  const upstreamCheck = (name: 'crm' | 'inventory', ping: () => Promise<string | undefined>) => async () => {
    const problem = await ping();
    return problem === undefined ? undefined : { field: name, message: problem };
  };
  return createServiceApp({
    logger: deps.logger,
    router: createMiddlewareRouter({ ...deps, reconciliations: deps.stores.reconciliations }),
    registry,
    readiness: [
      ...databaseChecks(deps.database),
      upstreamCheck('crm', () => deps.crm.ping()),
      // While delivery is paused or the Inventory's Retry-After runs, nothing is sent to it, not even a ping.
      upstreamCheck('inventory', async () => {
        const held = await deps.stores.flow.check().catch(() => undefined);
        return held && held.reason !== 'breakerOpen' ? undefined : deps.inventory.ping();
      }),
    ],
    openapi: middlewareOpenApi,
    apiKeys: deps.apiKeys,
    // The status page's HTML asks for a key itself; the webhook is signed instead.
    publicRoutes: [
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/assets/*' },
      { method: 'POST', path: CRM_WEBHOOK_PATH },
    ],
  });
}
