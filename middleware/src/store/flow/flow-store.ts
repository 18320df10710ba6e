import type { FlowState, Turn } from '../../domain/model/flow.js';

/**
 * Flow control toward the Inventory, shared by every replica on PostgreSQL: a pause, the Retry-After
 * it gave, the circuit breaker, and the rate limit's next free slot. Every time here is the
 * database's (on SQLite, the one process's): a replica whose clock is off neither shortens nor
 * lengthens a wait.
 */
export interface FlowStore {
  /**
   * Whether one ask may go: not while paused, throttled or the breaker is open (then `held`, with
   * how long it lasts when that is known). The first to ask once an open breaker's probe is due is
   * let through as the probe, the others held. With `ratePerSecond`, the ask is given the next free
   * slot of the limit shared by all replicas: it goes after `waitMs`.
   */
  takeTurn(ratePerSecond: number | undefined): Promise<Turn>;
  /** Whether asks are held now, taking nothing: for an ask that waited for its slot, before it goes. */
  check(): Promise<Extract<Turn, { verdict: 'held' }> | undefined>;
  /** The state now: a pause or a throttle that has run out is null. */
  read(): Promise<FlowState>;
  /** The Inventory answered `status` with Retry-After: nothing is sent before `retryAfterMs` from now. */
  throttle(status: number, retryAfterMs: number): Promise<void>;
  pause(pause: { by: string | null; reason: string | null; until: string | null }): Promise<void>;
  resume(): Promise<void>;
  /** Opens the breaker (or keeps it open, after a failed probe), with the next probe `probeMs` from now. */
  openBreaker(reason: string, probeMs: number): Promise<void>;
  closeBreaker(): Promise<void>;
}

/** The stored state, with every time as milliseconds since the epoch on the store's clock. */
export interface FlowRecord {
  pausedAt: number | null;
  pausedBy: string | null;
  pausedReason: string | null;
  pausedUntil: number | null;
  throttledUntil: number | null;
  throttledStatus: number | null;
  breakerState: 'closed' | 'open' | 'halfOpen';
  breakerSince: number | null;
  breakerReason: string | null;
  breakerProbeMs: number | null;
  breakerNextProbeAt: number | null;
}

export const isPaused = (record: FlowRecord, now: number) =>
  record.pausedAt !== null && (record.pausedUntil === null || record.pausedUntil > now);

/**
 * What the state says of an ask at `now`, the rate limit aside: held (and until when, when known), a
 * probe of the open breaker, or free to go. Both backends decide by this.
 */
export function verdictOf(
  record: FlowRecord,
  now: number,
): Extract<Turn, { verdict: 'held' }> | { verdict: 'probe' } | { verdict: 'free' } {
  if (isPaused(record, now))
    return { verdict: 'held', reason: 'paused', untilMs: record.pausedUntil && record.pausedUntil - now };
  if (record.throttledUntil !== null && record.throttledUntil > now)
    return { verdict: 'held', reason: 'throttled', untilMs: record.throttledUntil - now };
  if (record.breakerState === 'closed') return { verdict: 'free' };
  if (record.breakerNextProbeAt !== null && record.breakerNextProbeAt > now)
    return { verdict: 'held', reason: 'breakerOpen', untilMs: record.breakerNextProbeAt - now };
  return { verdict: 'probe' };
}

/** As verdictOf, for an ask that is not to be the probe: a probe that is due holds it too. */
export function heldOf(record: FlowRecord, now: number): Extract<Turn, { verdict: 'held' }> | undefined {
  const verdict = verdictOf(record, now);
  if (verdict.verdict === 'held') return verdict;
  return verdict.verdict === 'probe' ? { verdict: 'held', reason: 'breakerOpen', untilMs: 0 } : undefined;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toFlowState(record: FlowRecord, now: number): FlowState {
  return {
    paused: isPaused(record, now)
      ? {
          by: record.pausedBy,
          reason: record.pausedReason,
          since: iso(record.pausedAt)!,
          until: iso(record.pausedUntil),
        }
      : null,
    throttle:
      record.throttledUntil !== null && record.throttledUntil > now
        ? { status: record.throttledStatus ?? 429, until: iso(record.throttledUntil)! }
        : null,
    breaker: {
      state: record.breakerState,
      since: iso(record.breakerSince),
      reason: record.breakerReason,
      nextProbeAt: iso(record.breakerNextProbeAt),
    },
  };
}

/** A closed breaker, as the store keeps one. */
export const closedBreaker = {
  breakerState: 'closed',
  breakerSince: null,
  breakerReason: null,
  breakerProbeMs: null,
  breakerNextProbeAt: null,
} as const;
