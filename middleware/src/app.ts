import type Koa from 'koa';
import { createServiceApp } from '@welcome/common';
import type { SyncDeps } from './domain/sync.js';
import { createMiddlewareRouter } from './http/routes.js';

export function createApp(deps: SyncDeps): Koa {
  return createServiceApp(deps.logger, createMiddlewareRouter(deps));
}
