import type { Logger } from '@welcome/common';
import { ThrottledError, UpstreamUnavailableError } from '../../clients/upstream.js';
import type { FlowStore } from '../../store/flow/flow-store.js';
import type { Turn } from '../model/flow.js';
import type { AdaptiveLimit } from './adaptive-limit.js';
import { createBreakerWatch } from './breaker.js';
import { DeliveryHeldError } from './held.js';

/** BREAKER_* and INVENTORY_RATE_LIMIT: when the breaker opens, how often it probes, and the shared rate limit. */
export interface GateSettings {
  /** INVENTORY_RATE_LIMIT: requests a second to the Inventory, all replicas together; undefined for none. */
  ratePerSecond: number | undefined;
  /** BREAKER_FAILURES: asks failed in a row (no answer, or 5xx) that open the breaker. */
  breakerFailures: number;
  /** BREAKER_PROBE_INTERVAL: the first wait between probes of an open breaker; it doubles up to a minute. */
  probeMs: number;
}

/** What an ask is given: a hook for got to call before its one retry, which takes a turn as the ask did. */
export interface AskHooks {
  beforeRetry(): Promise<void>;
}

/**
 * Every ask of the Inventory goes through here, whichever path brings it: in at most the adaptive
 * limit's number at once, only when the shared state lets it (not paused, no Retry-After running,
 * the breaker closed or this ask its probe), at the shared rate. Learns from each answer: a
 * Retry-After closes the gate for every replica until then, a run of failures opens the breaker.
 */
export interface InventoryGate {
  /** Runs one ask; throws DeliveryHeldError, asking nothing, while asks are held. */
  ask<T>(work: (hooks: AskHooks) => Promise<T>): Promise<T>;
  /** A list read page by page from the Inventory, each page an ask. */
  pages<T>(source: AsyncIterable<T>): AsyncGenerator<T>;
  /** The asks that may be in flight now, and those that are. */
  concurrency(): { limit: number; inFlight: number };
  /** Retry-After answers met by this process. */
  throttledCount(): number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The rate the slots are handed out at, as a share of INVENTORY_RATE_LIMIT: 2 % below it, so that a
 * request that leaves late (a busy event loop, a slow answer of the store) beside one that leaves on
 * time still keeps any one second within the limit, as the Inventory counts.
 */
const RATE_MARGIN = 0.98;

/** How late an ask may leave after its slot of the rate limit before it takes another instead. */
const LATE_MS = 20;
/** How many slots an ask lets go for being late before it leaves anyway: a machine that busy has other troubles. */
const MAX_LATE_RETAKES = 3;

/** What this process knows of the Inventory's Retry-After: until when it holds, said once a window, and how often. */
function createThrottleWatch(logger: Logger) {
  let count = 0;
  let heldUntil = 0;
  let toldUntil = 0;
  return {
    count: () => count,
    /** How long this process's own Retry-After still holds, seen before the store says so. */
    heldForMs: () => Math.max(0, heldUntil - Date.now()),
    met(error: ThrottledError) {
      count += 1;
      heldUntil = Math.max(heldUntil, Date.now() + error.retryAfterMs);
      if (Date.now() < toldUntil) return;
      toldUntil = Date.now() + error.retryAfterMs;
      logger.warn(
        `The Inventory answered ${error.status} with Retry-After: no request goes to it for ` +
          `${Math.ceil(error.retryAfterMs / 1000)} s, on any replica`,
        { upstream: 'Inventory', status: error.status, retryAfterMs: error.retryAfterMs },
      );
    },
  };
}

export function createInventoryGate(
  parts: { flow: FlowStore; limit: AdaptiveLimit; logger: Logger },
  settings: GateSettings,
): InventoryGate {
  const { flow, limit, logger } = parts;
  const breaker = createBreakerWatch(parts, settings);
  const throttle = createThrottleWatch(logger);
  let probing: Promise<void> | undefined;

  /** Takes a turn, waiting for its slot of the rate limit; throws DeliveryHeldError while asks are held. */
  const rate = settings.ratePerSecond && settings.ratePerSecond * RATE_MARGIN;
  const takeTurn = async (late = 0): Promise<Extract<Turn, { verdict: 'go' }>> => {
    const turn = await flow.takeTurn(rate);
    if (turn.verdict === 'held') {
      // This process's own probe is in flight: its outcome decides, so wait for it and look again.
      if (turn.reason === 'breakerOpen' && probing) {
        await probing;
        return takeTurn();
      }
      throw new DeliveryHeldError(turn.reason, turn.untilMs);
    }
    const due = performance.now() + turn.waitMs;
    if (turn.waitMs > 0) await pause(turn.waitMs);
    // A slot missed by more than LATE_MS (the event loop was busy when it came) is not used late:
    // asks that all woke late would leave together and crowd one second at the Inventory.
    if (rate !== undefined && performance.now() - due > LATE_MS && late < MAX_LATE_RETAKES) return takeTurn(late + 1);
    // While it waited, an ask of this process may have met a Retry-After.
    const heldHere = throttle.heldForMs();
    if (turn.probeMs === null && heldHere > 0) throw new DeliveryHeldError('throttled', heldHere);
    return turn;
  };

  const ask = async <T>(work: (hooks: AskHooks) => Promise<T>): Promise<T> => {
    await limit.acquire();
    let learnt: Parameters<AdaptiveLimit['release']>[0] = { kind: 'none' };
    let probeMs: number | null = null;
    let probed = () => {};
    try {
      probeMs = (await takeTurn()).probeMs;
      if (probeMs !== null) probing = new Promise((resolve) => (probed = resolve));
      const started = performance.now();
      // got's one retry is a turn of its own, but for the probe's: the probe is both of its attempts.
      const beforeRetry = async () => void (probeMs === null && (await takeTurn()));
      const result = await work({ beforeRetry });
      learnt = { kind: 'answered', latencyMs: performance.now() - started };
      await breaker.answered(probeMs);
      return result;
    } catch (error) {
      if (error instanceof ThrottledError) {
        learnt = { kind: 'overloaded' };
        throttle.met(error);
        await flow.throttle(error.status, error.retryAfterMs);
        // It answered: alive, if not willing. The Retry-After holds every ask until it runs out.
        if (probeMs !== null) await flow.closeBreaker();
        throw new DeliveryHeldError('throttled', error.retryAfterMs);
      }
      if (error instanceof UpstreamUnavailableError) {
        learnt = { kind: 'overloaded' };
        await breaker.failed(error, probeMs);
      }
      throw error;
    } finally {
      if (probeMs !== null) probing = undefined;
      probed();
      limit.release(learnt);
    }
  };

  return {
    ask,
    async *pages(source) {
      const pages = source[Symbol.asyncIterator]();
      for (;;) {
        const page = await ask(() => pages.next());
        if (page.done) return;
        yield page.value;
      }
    },
    concurrency: () => ({ limit: limit.current(), inFlight: limit.inFlight() }),
    throttledCount: throttle.count,
  };
}
