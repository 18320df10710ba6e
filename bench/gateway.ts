import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, serveHandler, type RunningServer } from '../test/support/servers.js';

/** One request as the gateway saw it: when it came (ms, monotonic), what it was, and what it was answered. */
export interface GatewayRequest {
  at: number;
  method: string;
  path: string;
  /** The customer of a package request, when the body names one. */
  customerId?: number;
  status: number;
}

/** A Retry-After the gateway gave: when, and how long it asked for. */
export interface RetryAfterWindow {
  at: number;
  ms: number;
}

export interface GatewayOptions {
  /** Requests a second let through (a token bucket refilled at this rate); undefined for no limit. */
  ratePerSecond?: number;
  /** The bucket's size: how many may come at once after a quiet spell; one second's worth by default. */
  burst?: number;
  /** The Retry-After of a 429, in seconds. */
  retryAfterS?: number;
}

/**
 * A rate-limiting gateway in front of a real Inventory, as an operator would put one: a token
 * bucket that answers 429 with Retry-After above its rate, and a brownout that answers 503 with
 * Retry-After to everything while it lasts. Every request is recorded, to tell afterwards how the
 * middleware behaved.
 */
export async function startGateway(upstreamUrl: string, options: GatewayOptions = {}) {
  const requests: GatewayRequest[] = [];
  const windows: RetryAfterWindow[] = [];
  const rate = options.ratePerSecond;
  const burst = options.burst ?? rate ?? 0;
  let tokens = burst;
  let refilledAt = performance.now();
  let brownout: { retryAfterS: number } | undefined;

  const take = (now: number) => {
    if (rate === undefined) return true;
    tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * rate);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
  const refuse = (res: ServerResponse, status: number, retryAfterS: number, at: number) => {
    windows.push({ at, ms: retryAfterS * 1000 });
    sendJson(
      res,
      status,
      { title: status === 429 ? 'Too Many Requests' : 'Service Unavailable', status },
      {
        'Retry-After': String(retryAfterS),
      },
    );
  };
  const forward = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const answer = await fetch(`${upstreamUrl}${req.url}`, {
      method: req.method ?? 'GET',
      headers: {
        'content-type': 'application/json',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      },
      ...(body && req.method !== 'GET' ? { body } : {}),
    });
    const text = await answer.text();
    res.writeHead(answer.status, { 'Content-Type': answer.headers.get('content-type') ?? 'application/json' });
    res.end(text);
    return answer.status;
  };

  const server: RunningServer = await serveHandler(async (req, res, body) => {
    const at = performance.now();
    const entry: GatewayRequest = { at, method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, status: 0 };
    try {
      const customerId = (JSON.parse(body || '{}') as { customerId?: unknown }).customerId;
      if (typeof customerId === 'number') entry.customerId = customerId;
    } catch {
      // Not JSON: the Inventory answers it as it does.
    }
    requests.push(entry);
    if (brownout) {
      entry.status = 503;
      refuse(res, 503, brownout.retryAfterS, at);
    } else if (!take(at)) {
      entry.status = 429;
      refuse(res, 429, options.retryAfterS ?? 2, at);
    } else {
      entry.status = await forward(req, res, body).catch(() => {
        res.writeHead(502).end();
        return 502;
      });
    }
  });

  return {
    ...server,
    requests,
    windows,
    /** Answers 503 with `Retry-After: retryAfterS` to everything until ended. */
    brownout(retryAfterS: number) {
      brownout = { retryAfterS };
      return { end: () => void (brownout = undefined) };
    },
  };
}

export type Gateway = Awaited<ReturnType<typeof startGateway>>;

/** The most requests that came within any one second (a sliding window), of those `which` keeps. */
export function peakPerSecond(requests: readonly GatewayRequest[], which = (_: GatewayRequest) => true): number {
  const times = requests.filter(which).map((request) => request.at);
  let peak = 0;
  for (let first = 0, last = 0; last < times.length; last++) {
    while (times[last]! - times[first]! >= 1000) first += 1;
    peak = Math.max(peak, last - first + 1);
  }
  return peak;
}

/**
 * Requests that came while a Retry-After the gateway had given was still running, leaving out
 * those that came within `graceMs` of it: requests already on their way when it was given.
 */
export function insideRetryAfter(gateway: Pick<Gateway, 'requests' | 'windows'>, graceMs: number): GatewayRequest[] {
  return gateway.requests.filter((request) =>
    gateway.windows.some((window) => request.at > window.at + graceMs && request.at < window.at + window.ms),
  );
}
