import type { Middleware } from 'koa';
import bodyParser from 'koa-bodyparser';
import { AppError } from './errors.js';

export const MAX_BODY = '64kb';

/**
 * The body of a route that takes one: JSON only, at most 64 KiB. koa-bodyparser quietly ignores
 * other content types, so the 415 is ours; a request without a body reads as `{}` and fails
 * validation instead. Routes that take no body do not use it, so a body sent to them is ignored.
 */
export function jsonBody(): Middleware {
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: MAX_BODY, strict: true });
  return async (ctx, next) => {
    // An empty POST (Content-Length: 0, as Postman sends for a bodiless replay) has nothing to refuse.
    const hasBody = ctx.get('Transfer-Encoding') !== '' || (ctx.request.length ?? 0) > 0;
    if (hasBody && !ctx.is('application/json')) {
      throw new AppError(
        415,
        'unsupported-media-type',
        `Request bodies must be application/json, not ${ctx.get('Content-Type') || 'an unnamed type'}.`,
      );
    }
    try {
      await parse(ctx, async () => {});
    } catch (error) {
      // A body that says it is compressed and is not (zlib's and brotli's errors carry no HTTP
      // status) is the client's error.
      const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
      if (ctx.get('Content-Encoding') !== '' && status === undefined && statusCode === undefined) {
        throw new AppError(
          400,
          'malformed-body',
          `The request body could not be decompressed (Content-Encoding: ${ctx.get('Content-Encoding')}): ` +
            `${(error as Error).message}.`,
        );
      }
      throw error;
    }
    return next();
  };
}

declare module 'koa' {
  interface Request {
    /** The parsed JSON body, set by jsonBody(); `{}` when the request had none. */
    body?: unknown;
  }
}
