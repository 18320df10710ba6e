import type { Context, Middleware } from 'koa';
import { isStorageFull, StorageFullError } from './database.js';
import { AppError, problemType, titleFor, type ProblemDocument } from './errors.js';
import { MAX_BODY } from './json-body.js';
import type { Logger } from './logger.js';
import { DatabaseUnavailableError, isDatabaseUnavailable } from './postgres.js';

function renderProblem(ctx: Context, problem: ProblemDocument): void {
  ctx.status = problem.status;
  ctx.body = problem;
  ctx.type = 'application/problem+json';
}

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  message?: string;
}

/** Codes for the client errors raised by the body parser (raw-body and co-body). */
function codeOfClientError(error: HttpLikeError, status: number): { code: string; detail: string } {
  if (status === 413) return { code: 'body-too-large', detail: `The request body is larger than ${MAX_BODY}.` };
  if (status === 415) return { code: 'unsupported-media-type', detail: error.message ?? 'Unsupported encoding.' };
  if (error instanceof SyntaxError) {
    return { code: 'malformed-json', detail: `The request body is not valid JSON: ${error.message ?? 'parse error'}.` };
  }
  return { code: 'bad-request', detail: error.message ?? 'The request could not be read.' };
}

/**
 * Renders every failure as RFC 9457 problem+json: our own AppErrors, the client errors of the
 * libraries below (body parser, router), the empty 404/405 Koa leaves behind, and, for anything
 * unexpected, a plain 500 whose stack goes to the log and never to the client.
 */
export function problemDetails(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      if (caught instanceof AppError) {
        ctx.set(caught.headers);
        renderProblem(ctx, caught.toProblem());
        return;
      }
      if (isStorageFull(caught) || isDatabaseUnavailable(caught)) {
        const refusal = isStorageFull(caught) ? new StorageFullError(caught) : new DatabaseUnavailableError(caught);
        ctx.set(refusal.headers);
        renderProblem(ctx, refusal.toProblem());
        return;
      }
      const error = caught as HttpLikeError;
      const status = error.status ?? error.statusCode;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        const { code, detail } = codeOfClientError(error, status);
        renderProblem(ctx, { type: problemType(code), title: titleFor(status), status, detail });
        return;
      }
      logger.error('Unexpected error while answering a request', {
        requestId: ctx.state.requestId,
        method: ctx.method,
        path: ctx.path,
        error: caught instanceof Error ? caught.stack : String(caught),
      });
      renderProblem(ctx, {
        type: problemType('internal-error'),
        title: titleFor(500),
        status: 500,
        detail: 'The server failed to answer this request; the error is in its log.',
      });
      return;
    }
    if (ctx.body !== undefined && ctx.body !== null) return;
    if (ctx.status === 404) {
      renderProblem(ctx, {
        type: problemType('not-found'),
        title: titleFor(404),
        status: 404,
        detail: `There is no ${ctx.path} here.`,
      });
    } else if (ctx.status === 405 || ctx.status === 501) {
      renderProblem(ctx, {
        type: problemType('method-not-allowed'),
        title: titleFor(405),
        status: 405,
        detail: `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow')}.`,
      });
    }
  };
}
