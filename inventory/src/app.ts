import type Koa from 'koa';
import { createServiceApp, type Logger } from '@welcome/common';
import type { PackageStore } from './store/package-store.js';
import { createPackageRouter } from './http/routes.js';

export interface InventoryDeps {
  store: PackageStore;
  logger: Logger;
  now?: () => Date;
}

export function createApp(deps: InventoryDeps): Koa {
  const router = createPackageRouter({ store: deps.store, now: deps.now ?? (() => new Date()) });
  return createServiceApp(deps.logger, router);
}
