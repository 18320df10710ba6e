import { setImmediate as yieldToOthers } from 'node:timers/promises';
import { isDatabaseUnavailable, type Logger } from '@welcome/common';
import type { SyncStore } from '../store/sync-store.js';

/** JOURNEY_RETENTION_DAYS when not set. */
export const DEFAULT_JOURNEY_RETENTION_DAYS = 30;

/** How often old journey steps are pruned (and once at start). */
export const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** Steps deleted in one statement: one short write at a time, so that delivery never waits long behind it. */
const PRUNE_BATCH = 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

export interface JourneyRetentionOptions {
  store: Pick<SyncStore, 'pruneJourneys'>;
  retentionDays: number;
  logger: Logger;
  now: () => Date;
  everyMs?: number;
}

/**
 * Keeps the journeys from growing forever: every PRUNE_EVERY_MS (and at start) the steps older
 * than the retention are deleted, a batch at a time with a turn of the event loop between. A
 * database out of reach is tried again next time.
 */
export function startJourneyRetention(options: JourneyRetentionOptions): { stop(): Promise<void> } {
  const { store, logger } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const pruneAll = async () => {
    const before = new Date(options.now().getTime() - options.retentionDays * DAY_MS).toISOString();
    let pruned = 0;
    try {
      let deleted: number;
      do {
        deleted = await store.pruneJourneys(before, PRUNE_BATCH);
        pruned += deleted;
        await yieldToOthers();
      } while (deleted === PRUNE_BATCH && !stopped);
    } catch (error) {
      logger.warn(`Old journey steps could not be pruned (${(error as Error).message}); trying again in an hour`, {
        error: isDatabaseUnavailable(error) ? (error as Error).message : (error as Error).stack,
      });
    }
    if (pruned > 0) {
      logger.info(`Pruned ${pruned} journey steps older than ${options.retentionDays} days`, { pruned, before });
    }
  };
  const schedule = () => {
    running = pruneAll().finally(() => {
      running = undefined;
      if (!stopped) timer = setTimeout(schedule, options.everyMs ?? PRUNE_EVERY_MS);
    });
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
