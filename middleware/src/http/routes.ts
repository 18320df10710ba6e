import Router from '@koa/router';
import { parseIdParam, parsePageRequest, sendPage } from '@welcome/common';
import { replayAllDeadLetters, replayDeadLetter } from '../domain/dead-letters.js';
import type { SyncDeps } from '../domain/sync.js';
import { statusPage } from './status-page.js';

export function createMiddlewareRouter(deps: SyncDeps): Router {
  const router = new Router();

  router.get('/', (ctx) => {
    ctx.type = 'text/html';
    ctx.body = statusPage;
  });

  router.get('/status', (ctx) => {
    ctx.body = deps.store.status();
  });

  router.get('/dead-letters', (ctx) => {
    const page = parsePageRequest(ctx);
    sendPage(ctx, deps.store.listDeadLetters(page.after, page.limit + 1), page);
  });

  router.post('/dead-letters/replay', async (ctx) => {
    ctx.body = await replayAllDeadLetters(deps);
  });

  router.post('/dead-letters/:id/replay', async (ctx) => {
    ctx.body = await replayDeadLetter(deps, parseIdParam(ctx.params.id));
  });

  return router;
}
