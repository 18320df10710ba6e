import type Koa from 'koa';
import { createServiceApp, type Logger } from '@welcome/common';
import type { CustomerStore } from './store/customer-store.js';
import { createCustomerRouter } from './http/routes.js';

export interface CrmDeps {
  store: CustomerStore;
  logger: Logger;
  now?: () => Date;
}

export function createApp(deps: CrmDeps): Koa {
  const router = createCustomerRouter({ store: deps.store, now: deps.now ?? (() => new Date()) });
  return createServiceApp(deps.logger, router);
}
