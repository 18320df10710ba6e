import type { Logger } from '@welcome/common';
import type { UpstreamUnavailableError } from '../../clients/upstream.js';
import type { FlowStore } from '../../store/flow/flow-store.js';

/** The longest wait between two probes of an open breaker. */
export const MAX_PROBE_MS = 60_000;

/**
 * This process's side of the circuit breaker: it counts the asks failed in a row and opens the
 * (shared) breaker after `breakerFailures` of them; a probe's answer closes it, a probe's failure
 * keeps it open with the wait before the next doubled, up to a minute.
 */
export function createBreakerWatch(
  parts: { flow: Pick<FlowStore, 'openBreaker' | 'closeBreaker'>; logger: Logger },
  settings: { breakerFailures: number; probeMs: number },
) {
  const { flow, logger } = parts;
  let failures = 0;
  // This run of failures has opened the breaker already: the asks in flight with it fail too, and say nothing more.
  let openedThisRun = false;
  return {
    /** An answer came (of the probe, when `probeMs` is set): the run of failures ends. */
    async answered(probeMs: number | null): Promise<void> {
      failures = 0;
      openedThisRun = false;
      if (probeMs === null) return;
      await flow.closeBreaker();
      logger.info('The Inventory answered the probe: circuit breaker closed', { upstream: 'Inventory' });
    },
    /** No answer, or a 5xx, without Retry-After (of the probe, when `probeMs` is set). */
    async failed(error: UpstreamUnavailableError, probeMs: number | null): Promise<void> {
      failures += 1;
      if (probeMs !== null) {
        const next = Math.min(MAX_PROBE_MS, probeMs * 2);
        await flow.openBreaker(error.message, next);
        logger.debug(`The probe of the Inventory failed (${error.message}); next probe in ${next / 1000} s`, {
          upstream: 'Inventory',
          probeMs: next,
        });
      } else if (failures >= settings.breakerFailures && !openedThisRun) {
        openedThisRun = true;
        await flow.openBreaker(error.message, settings.probeMs);
        logger.error(
          `${failures} asks of the Inventory failed in a row (${error.message}): circuit breaker open, ` +
            `one probe every ${settings.probeMs / 1000} s or more until it answers`,
          { upstream: 'Inventory', failures, probeMs: settings.probeMs },
        );
      }
    },
  };
}
