/**
 * Where long polls wait for the next customer: one entry per held request, woken by the commit
 * that concerns it, by its own deadline, by its client going away, or by shutdown. Nothing runs
 * while they wait: no polling of the database, one timer each.
 */
export interface CustomerFeed {
  /** Resolves once a customer with an id above `after` is committed, or after `ms`, or at `until`. */
  waitForCustomerAfter(after: number, ms: number, until?: AbortSignal): Promise<void>;
  /** A customer was committed. */
  committed(id: number): void;
  /** Shutdown: every held request is answered now. */
  releaseAll(): void;
  held(): number;
}

export function createCustomerFeed(): CustomerFeed {
  const waiting = new Set<{ after: number; wake: () => void }>();
  return {
    waitForCustomerAfter(after, ms, until) {
      return new Promise((resolve) => {
        if (until?.aborted) return resolve();
        const entry = {
          after,
          wake: () => {
            clearTimeout(timer);
            until?.removeEventListener('abort', entry.wake);
            waiting.delete(entry);
            resolve();
          },
        };
        const timer = setTimeout(entry.wake, ms);
        until?.addEventListener('abort', entry.wake);
        waiting.add(entry);
      });
    },
    committed(id) {
      for (const entry of waiting) if (id > entry.after) entry.wake();
    },
    releaseAll() {
      for (const entry of waiting) entry.wake();
    },
    held: () => waiting.size,
  };
}
