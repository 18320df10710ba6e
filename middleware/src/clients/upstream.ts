import got, { HTTPError, ParseError, RequestError, type Got } from 'got';
import LinkHeader from 'http-link-header';
import { keepAliveAgents } from '@welcome/common/agents';
import type { Logger } from '@welcome/common';
import { retryAfterOf } from '@welcome/common/retry-after';
import { spanEvent } from '@welcome/common/tracing';

export { retryAfterOf };

export type UpstreamName = 'CRM' | 'Inventory';

/**
 * The upstream could not give an answer we can act on (down, timed out, 5xx, 429, or nonsense),
 * even after got's retry. The cycle stops and the next one tries again; nothing moves on.
 */
export class UpstreamUnavailableError extends Error {
  readonly code = 'UPSTREAM_UNAVAILABLE';
  readonly upstream: UpstreamName;

  constructor(upstream: UpstreamName, detail: string, options: { cause?: unknown } = {}) {
    super(`${upstream} unavailable: ${detail}`, options);
    this.name = 'UpstreamUnavailableError';
    this.upstream = upstream;
  }
}

/**
 * The upstream asked to be left alone for a while: a 429 or 503 with Retry-After. Nothing is sent
 * to it before `retryAfterMs` have passed, not even got's retry.
 */
export class ThrottledError extends UpstreamUnavailableError {
  readonly status: number;
  readonly retryAfterMs: number;

  constructor(upstream: UpstreamName, status: number, retryAfterMs: number, options: { cause?: unknown } = {}) {
    super(upstream, `answered ${status} with Retry-After: ${Math.ceil(retryAfterMs / 1000)} s`, options);
    this.name = 'ThrottledError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Statuses that say "not now" rather than "never": retried by got, then the cycle waits. */
export const TRANSIENT_STATUSES = [408, 429, ...Array.from({ length: 100 }, (_, i) => 500 + i)];

export interface UpstreamOptions {
  name: UpstreamName;
  baseUrl: string;
  timeoutMs: number;
  /** How long got waits before its one retry; one second in production. */
  retryDelayMs: number;
  logger: Logger;
  /** True while an outage is known: retries are then logged at debug, not once a cycle. */
  quiet?: () => boolean;
  /** How many requests may be open at once: the size of the keep-alive pool. */
  maxSockets?: number;
  /** CRM_API_KEY or INVENTORY_API_KEY: sent as a bearer token when set. */
  apiKey?: string | undefined;
}

/** What a typed client of one upstream is built from. */
export type ClientOptions = Omit<UpstreamOptions, 'name'>;

/**
 * One got instance per upstream: JSON, a timeout on every call, and exactly one retry after a
 * fixed delay on network errors, timeouts, 5xx, 408 and 429. POST is in the retried methods on
 * purpose: got leaves it out by default, and the Inventory answers a repeated POST with 200.
 */
export function createUpstream(options: UpstreamOptions): Got {
  // Requests in flight together fail together: one warning for them, the rest at debug.
  let warnedAt = 0;
  return got.extend({
    prefixUrl: options.baseUrl,
    agent: keepAliveAgents(options.maxSockets ?? 1),
    responseType: 'json',
    ...(options.apiKey ? { headers: { authorization: `Bearer ${options.apiKey}` } } : {}),
    timeout: { request: options.timeoutMs },
    retry: {
      limit: 1,
      methods: ['GET', 'POST'],
      statusCodes: TRANSIENT_STATUSES,
      // An answer that says when to come back is not retried early: the caller waits for that.
      calculateDelay: ({ computedValue, error }) =>
        computedValue === 0 || (error instanceof HTTPError && retryAfterOf(error.response) !== undefined)
          ? 0
          : options.retryDelayMs,
    },
    hooks: {
      beforeRetry: [
        (error, retryCount) => {
          spanEvent('retry', {
            'http.response.status_code': error instanceof HTTPError ? error.response.statusCode : undefined,
            'http.request.resend_count': retryCount,
            'error.message': describeFailure(error, options.name),
          });
          const repeated = Date.now() - warnedAt < Math.max(options.retryDelayMs, 1000);
          const level = options.quiet?.() || repeated ? 'debug' : 'warn';
          if (level === 'warn') warnedAt = Date.now();
          options.logger.log(level, `${options.name} call failed; retrying once in ${options.retryDelayMs} ms`, {
            upstream: options.name,
            url: error.options.url?.toString(),
            attempt: retryCount,
            error: describeFailure(error, options.name),
          });
        },
      ],
    },
  });
}

/** A short, log-friendly account of why a call failed. */
export function describeFailure(error: unknown, upstream?: UpstreamName): string {
  if (error instanceof HTTPError && error.response.statusCode === 401 && upstream) {
    const variable = upstream === 'CRM' ? 'CRM_API_KEY' : 'INVENTORY_API_KEY';
    return `answered 401: it wants an API key, and ${variable} is not set or is not one of its API_KEYS`;
  }
  if (error instanceof HTTPError) return `answered ${error.response.statusCode}`;
  if (error instanceof RequestError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Asks the upstream's /health once, quickly, without retrying: for readiness, not for work. */
export async function ping(http: Got): Promise<string | undefined> {
  try {
    await http.get('health', { retry: { limit: 0 }, timeout: { request: 1000 } });
    return undefined;
  } catch (error) {
    return describeFailure(error);
  }
}

/** The `rel="next"` target of a Link header (RFC 8288), resolved against the page it came with. */
export function nextLink(header: string | undefined, pageUrl: string): URL | undefined {
  if (!header) return undefined;
  try {
    const target = LinkHeader.parse(header).rel('next')[0]?.uri;
    return target === undefined ? undefined : new URL(target, pageUrl);
  } catch {
    // A Link header we cannot read ends the walk here, as if there were no next page.
    return undefined;
  }
}

/** Why a read of an upstream gave nothing to act on, as the error every caller handles. */
export function unavailableRead(upstream: UpstreamName, error: unknown): UpstreamUnavailableError {
  if (error instanceof UpstreamUnavailableError) return error;
  const retryAfterMs = error instanceof HTTPError ? retryAfterOf(error.response) : undefined;
  if (retryAfterMs !== undefined)
    return new ThrottledError(upstream, (error as HTTPError).response.statusCode, retryAfterMs, { cause: error });
  if (error instanceof ParseError) {
    return new UpstreamUnavailableError(upstream, 'it answered with something that is not JSON', { cause: error });
  }
  return new UpstreamUnavailableError(upstream, describeFailure(error, upstream), { cause: error });
}

/**
 * The bodies of a keyset-paged list, from `first` on, following `Link: rel="next"` until the end
 * (read lazily: the next page is asked for when the one before has been used). A link to another
 * origin, or back to a page already read, ends the walk with a warning.
 */
export async function* linkedPages(
  http: Got,
  first: URL,
  options: { upstream: UpstreamName; logger: Logger; timeoutMs?: (url: URL) => number; signal?: AbortSignal },
): AsyncGenerator<unknown> {
  const origin = first.origin;
  const visited = new Set<string>();
  let url = first;
  for (;;) {
    visited.add(url.href);
    let body: unknown;
    let link: string | undefined;
    try {
      const timeout = options.timeoutMs ? { timeout: { request: options.timeoutMs(url) } } : {};
      const response = await http.get(url, {
        prefixUrl: '',
        ...timeout,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      body = response.body;
      const header = response.headers.link;
      link = Array.isArray(header) ? header.join(', ') : header;
    } catch (error) {
      throw unavailableRead(options.upstream, error);
    }
    yield body;
    const next = nextLink(link, url.href);
    if (!next) return;
    if (next.origin !== origin) {
      options.logger.warn(`The ${options.upstream} linked to a page on another origin; not following it`, {
        link: next.href,
      });
      return;
    }
    if (visited.has(next.href)) {
      options.logger.warn(`The ${options.upstream} linked back to a page already read; stopping this walk`, {
        link: next.href,
      });
      return;
    }
    url = next;
  }
}
