import type Koa from 'koa';
import { Counter, Gauge, type Registry } from 'prom-client';
import { createRegistry, createServiceApp, databaseChecks } from '@welcome/common';
import { middlewareOpenApi } from './http/openapi.js';
import { CRM_WEBHOOK_PATH, createMiddlewareRouter } from './http/routes.js';
import type { StoredStatus } from './domain/model/status.js';
import type { Middleware } from './wiring.js';

/**
 * Gauges read from the store at each scrape: its counters survive restarts and are shared by the
 * replicas, so they are its to tell. One read serves every gauge of a scrape; while the store
 * cannot be read, the gauges keep their last values and the process's own metrics are still served.
 */
function addSyncMetrics(registry: Registry, status: () => Promise<StoredStatus>): void {
  let reading: Promise<StoredStatus | undefined> | undefined;
  const readOnce = () =>
    (reading ??= status()
      .catch(() => undefined)
      .finally(() => {
        reading = undefined;
      }));
  const gauges: Array<[string, string, (s: StoredStatus) => number]> = [
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
function addProcessMetrics(registry: Registry, deps: Pick<Middleware, 'inventory' | 'reconciler'>): void {
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
  addSyncMetrics(registry, () => deps.stores.status.read(deps.now()));
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
      upstreamCheck('inventory', () => deps.inventory.ping()),
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
