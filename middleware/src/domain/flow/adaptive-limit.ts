/** How the Inventory answered one ask, as far as the concurrency limit is concerned. */
export type AskOutcome =
  /** An answer (a package, a refusal), and how long it took. */
  | { kind: 'answered'; latencyMs: number }
  /** A sign of overload: 429 or 503, a timeout, no answer at all. */
  | { kind: 'overloaded' }
  /** Not asked after all (held), or nothing to learn from. */
  | { kind: 'none' };

/** The least time between two cuts: the asks in flight when overload begins all fail, and count as one sign. */
const CUT_SPACING_MS = 1000;

/**
 * How many asks of the Inventory may be in flight at once, adapted to what it answers (AIMD, as
 * TCP's congestion window): halved on each sign of overload, at most once a second, never below
 * one; grown by one for each round of fast answers (1/limit per answer), never above `ceiling`
 * (DELIVERY_CONCURRENCY). An answer slower than `slowMs` leaves it as it is.
 */
export function createAdaptiveLimit(options: { ceiling: number; slowMs: number; clock?: () => number }) {
  const clock = options.clock ?? (() => performance.now());
  let limit = options.ceiling;
  let inFlight = 0;
  let lastCut = -Infinity;
  const waiting: Array<() => void> = [];
  const admit = () => {
    while (waiting.length > 0 && inFlight < Math.floor(limit)) {
      inFlight += 1;
      waiting.shift()!();
    }
  };
  return {
    /** Resolves once this ask may be in flight. */
    acquire(): Promise<void> {
      if (waiting.length === 0 && inFlight < Math.floor(limit)) {
        inFlight += 1;
        return Promise.resolve();
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    /** The ask is over: learns from how it went, and lets the next in. */
    release(outcome: AskOutcome): void {
      inFlight -= 1;
      if (outcome.kind === 'overloaded' && clock() - lastCut >= CUT_SPACING_MS) {
        limit = Math.max(1, limit / 2);
        lastCut = clock();
      } else if (outcome.kind === 'answered' && outcome.latencyMs <= options.slowMs) {
        limit = Math.min(options.ceiling, limit + 1 / limit);
      }
      admit();
    },
    /** The asks that may be in flight now. */
    current: () => Math.floor(limit),
    inFlight: () => inFlight,
  };
}

export type AdaptiveLimit = ReturnType<typeof createAdaptiveLimit>;
