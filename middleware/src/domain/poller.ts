import type { Logger } from '@welcome/common';

export interface Poller {
  /** Asks the cycle in flight to stop after its current customer, waits for it, and arms no more. */
  stop(): Promise<void>;
}

/**
 * Runs `cycle` now and then again `intervalMs` after each one ends. A timer re-armed at the end,
 * not setInterval, so a slow cycle is never overlapped by the next.
 */
export function startPoller(options: {
  intervalMs: number;
  cycle: (shouldStop: () => boolean) => Promise<unknown>;
  logger: Logger;
}): Poller {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;

  const run = () => {
    timer = undefined;
    inFlight = options
      .cycle(() => stopped)
      .then(
        () => undefined,
        (error: unknown) => {
          options.logger.error('Sync cycle failed unexpectedly; the next cycle tries again', {
            error: error instanceof Error ? error.stack : String(error),
          });
        },
      )
      .finally(() => {
        inFlight = undefined;
        if (!stopped) timer = setTimeout(run, options.intervalMs);
      });
  };

  run();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}
