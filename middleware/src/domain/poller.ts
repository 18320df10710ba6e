import type { Logger } from '@welcome/common';
import type { CycleReport } from './sync.js';

/** The least wait after a cycle that flow control held: a hold that ends now is looked at again shortly. */
const HELD_RECHECK_MS = 50;

export interface Poller {
  /** Asks the cycle in flight to stop after its current customer, waits for it, and arms no more. */
  stop(): Promise<void>;
}

/**
 * The pause after the n-th failed cycle in a row: exponential from the poll interval, capped,
 * with "equal jitter" (half fixed, half random) so that restarted middlewares do not all knock
 * on a recovering upstream at the same instant.
 */
export function backoffDelay(
  failures: number,
  intervalMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, intervalMs * 2 ** Math.min(failures, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Runs `cycle` now and then again after each one ends: at once after a cycle that delivered
 * customers (it drains a burst, then sleeps) or when long polling, `intervalMs` later after a
 * cycle that found nothing, and backing off after failures. A timer re-armed at the end, not
 * setInterval, so a slow cycle is never overlapped by the next.
 */
export function startPoller(options: {
  intervalMs: number;
  maxBackoffMs: number;
  /** `signal` aborts at stop, cutting short a long poll held by the CRM. */
  cycle: (shouldStop: () => boolean, signal: AbortSignal) => Promise<CycleReport>;
  /** Long polling: the CRM holds each read until there is news, so the next cycle starts at once. */
  longPoll?: boolean;
  logger: Logger;
  random?: () => number;
  /** While cycles find nothing, `log` is called once every `everyMs`: one line a minute instead of one a poll. */
  idleSummary?: { everyMs: number; log: () => void | Promise<void> };
  clock?: () => number;
}): Poller {
  const clock = options.clock ?? Date.now;
  let stopped = false;
  let failures = 0;
  let lastTold = clock();
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;

  const nextDelay = (report: CycleReport | undefined): number => {
    // Held by flow control: the next cycle when the hold ends, or a poll interval on if that is not known.
    if (report?.held)
      return Math.min(options.maxBackoffMs, Math.max(HELD_RECHECK_MS, report.held.untilMs ?? options.intervalMs));
    if (report === undefined || report.failure !== undefined) {
      failures += 1;
      return backoffDelay(failures, options.intervalMs, options.maxBackoffMs, options.random);
    }
    failures = 0;
    return report.more || options.longPoll ? 0 : options.intervalMs;
  };

  const tellIfIdle = (report: CycleReport | undefined) => {
    const idle = report !== undefined && report.found === 0 && report.failure === undefined;
    if (!idle || !options.idleSummary) {
      lastTold = clock();
    } else if (clock() - lastTold >= options.idleSummary.everyMs) {
      lastTold = clock();
      const { log } = options.idleSummary;
      void Promise.resolve()
        .then(log)
        .catch((error: unknown) => {
          options.logger.warn('The idle summary could not be read', {
            error: error instanceof Error ? error.message : String(error),
          });
        });
    }
  };

  const run = () => {
    timer = undefined;
    inFlight = options
      .cycle(() => stopped, stopping.signal)
      .catch((error: unknown) => {
        options.logger.error('Sync cycle failed unexpectedly; the next cycle tries again', {
          error: error instanceof Error ? error.stack : String(error),
        });
        return undefined;
      })
      .then((report) => {
        inFlight = undefined;
        if (stopped) return;
        tellIfIdle(report);
        const delay = nextDelay(report);
        if (failures > 0)
          options.logger.debug(`Next cycle in ${delay} ms after ${failures} failed cycle(s) in a row`, {
            delay,
            failures,
          });
        timer = setTimeout(run, delay);
      });
  };

  run();
  return {
    async stop() {
      stopped = true;
      stopping.abort();
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}
