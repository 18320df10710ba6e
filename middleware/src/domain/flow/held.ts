import type { HoldReason } from '../model/flow.js';

const says: Record<HoldReason, string> = {
  paused: 'delivery to the Inventory is paused',
  throttled: 'the Inventory asked to be left alone (Retry-After)',
  breakerOpen: 'the circuit breaker toward the Inventory is open',
};

/**
 * No ask of the Inventory may go now: delivery is paused, the Inventory's Retry-After runs, or the
 * breaker is open. Nothing was asked and nothing is recorded: the customer waits, the cursor holds.
 */
export class DeliveryHeldError extends Error {
  readonly code = 'DELIVERY_HELD';
  readonly reason: HoldReason;
  /** How long the hold lasts from when it was met, when that is known (a pause may have no end). */
  readonly untilMs: number | null;

  constructor(reason: HoldReason, untilMs: number | null) {
    const lasting = untilMs === null ? '' : ` for ${Math.ceil(untilMs / 1000)} s more`;
    super(`${says[reason]}${lasting}`);
    this.name = 'DeliveryHeldError';
    this.reason = reason;
    this.untilMs = untilMs;
  }

  /** Seconds to tell a sender to wait (Retry-After): at least one. */
  get retryAfterS(): number {
    return Math.max(1, Math.ceil((this.untilMs ?? 5000) / 1000));
  }
}
