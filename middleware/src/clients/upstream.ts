import got, { HTTPError, RequestError, type Got } from 'got';
import { keepAliveAgents } from '@welcome/common/agents';
import type { Logger } from '@welcome/common';

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
      calculateDelay: ({ computedValue }) => (computedValue === 0 ? 0 : options.retryDelayMs),
    },
    hooks: {
      beforeRetry: [
        (error, retryCount) => {
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
