import type Koa from 'koa';
import { Counter } from 'prom-client';
import { createRegistry, createServiceApp, createStorageGuard, databaseCheck, type Db, type Logger } from '@welcome/common';
import { createCustomerRouter } from './http/routes.js';
import { crmOpenApi } from './http/openapi.js';
import { createCustomerStore } from './store/customer-store.js';

export interface CrmDeps {
  db: Db;
  logger: Logger;
  now?: () => Date;
}

export function createApp(deps: CrmDeps): Koa {
  const storage = createStorageGuard(deps.db, deps.logger);
  const registry = createRegistry('crm');
  const customersCreated = new Counter({ name: 'crm_customers_created_total', help: 'Customers registered', registers: [registry] });
  const router = createCustomerRouter({
    store: createCustomerStore(deps.db, storage),
    now: deps.now ?? (() => new Date()),
    onRegistered: () => customersCreated.inc(),
  });
  return createServiceApp({ logger: deps.logger, router, registry, readiness: [databaseCheck(deps.db), storage.readiness], openapi: crmOpenApi });
}
