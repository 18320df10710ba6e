import type { Logger } from '@welcome/common';

/**
 * Where long polls wait for the next customer: one entry per held request, woken by the commit
 * that concerns it, by its own deadline, by its client going away, or by shutdown.
 *
 * Commits are told by this process's own inserts and, with several replicas, by the others'
 * notifications. A notification can be lost with the connection that carries it, so while
 * requests are held the feed may also ask the database for its highest id every `recheckMs`:
 * one query for all of them, and nothing at all while none is held.
 */
export interface CustomerFeed {
  /** Resolves once a customer with an id above `after` is committed, or after `ms`, or at `until`. */
  waitForCustomerAfter(after: number, ms: number, until?: AbortSignal): Promise<void>;
  /** Customers up to `id` are committed. */
  committed(id: number): void;
  /** News of commits may have been missed: the highest id is asked for now. */
  recheck(): void;
  /** Shutdown: every held request is answered now. */
  releaseAll(): void;
  held(): number;
}

export interface CustomerFeedOptions {
  /** The highest id committed, as the database says. */
  highestId: () => Promise<number>;
  /** How often the highest id is asked for while requests are held; never when undefined. */
  recheckMs?: number | undefined;
  logger: Logger;
}

export function createCustomerFeed(options: CustomerFeedOptions): CustomerFeed {
  const waiting = new Set<{ after: number; wake: () => void }>();
  // A commit told between a poll's read and its wait must still wake it.
  let highestSeen = 0;
  let recheckTimer: NodeJS.Timeout | undefined;
  let failing = false;

  const committed = (id: number) => {
    highestSeen = Math.max(highestSeen, id);
    for (const entry of waiting) if (id > entry.after) entry.wake();
  };
  const recheck = async () => {
    try {
      committed(await options.highestId());
      failing = false;
    } catch (error) {
      // The held polls answer at their deadlines as they would; the log says so once, not every second.
      if (!failing) {
        options.logger.warn(
          'Long polls cannot look for new customers in the database; they answer at their deadlines',
          { error: (error as Error).message },
        );
      }
      failing = true;
    }
  };
  const keepRechecking = () => {
    if (options.recheckMs === undefined || recheckTimer || waiting.size === 0) return;
    recheckTimer = setTimeout(() => {
      void recheck().finally(() => {
        recheckTimer = undefined;
        keepRechecking();
      });
    }, options.recheckMs);
  };

  return {
    waitForCustomerAfter(after, ms, until) {
      return new Promise((resolve) => {
        if (until?.aborted || highestSeen > after) return resolve();
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
        keepRechecking();
      });
    },
    committed,
    recheck() {
      if (waiting.size > 0) void recheck();
    },
    releaseAll() {
      for (const entry of waiting) entry.wake();
      clearTimeout(recheckTimer);
      recheckTimer = undefined;
    },
    held: () => waiting.size,
  };
}
