import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from './logger.js';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * Successful reads and probes (the middleware's polls, /health, /ready, /metrics) are the noise of
 * an idle system: debug. Writes and every refusal are the story: info. A 503 or 507 is a condition
 * the service reports once by itself, so each request it refuses is a warning, not an error.
 */
export function requestLogLevel(method: string, status: number): string {
  if (status === 503 || status === 507) return 'warn';
  if (status >= 500) return 'error';
  if (status < 400 && (method === 'GET' || method === 'HEAD')) return 'debug';
  return 'info';
}

/**
 * Outermost middleware: gives every request an id (the caller's, when it is sane), echoes it,
 * and logs the request once when the answer is known.
 */
export function requestLogging(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const given = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100;
      const fields = { method: ctx.method, path: ctx.path, status: ctx.status, ms, requestId };
      logger.log(
        requestLogLevel(ctx.method, ctx.status),
        `${ctx.method} ${ctx.path} answered ${ctx.status} in ${ms} ms`,
        fields,
      );
    }
  };
}
