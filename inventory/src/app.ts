import type Koa from 'koa';
import { Counter } from 'prom-client';
import { createRegistry, createServiceApp, databaseChecks, type Logger, type ServiceDatabase } from '@welcome/common';
import { inventoryOpenApi } from './http/openapi.js';
import { createPackageRouter } from './http/routes.js';
import { createInventoryStores } from './store/stores.js';

export interface InventoryDeps {
  database: ServiceDatabase;
  logger: Logger;
  now?: () => Date;
  /** API_KEYS: when any, every route but the public ones needs one. */
  apiKeys?: readonly string[];
}

export function createApp(deps: InventoryDeps): Koa {
  const registry = createRegistry('inventory');
  const requests = new Counter({
    name: 'inventory_package_requests_total',
    help: 'Package requests answered, by outcome: created (201) or replayed (200, the package was already there)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const router = createPackageRouter({
    store: createInventoryStores(deps.database).packages,
    now: deps.now ?? (() => new Date()),
    onAnswered: (created) => requests.inc({ outcome: created ? 'created' : 'replayed' }),
  });
  return createServiceApp({
    logger: deps.logger,
    router,
    registry,
    readiness: databaseChecks(deps.database),
    openapi: inventoryOpenApi,
    apiKeys: deps.apiKeys,
  });
}
