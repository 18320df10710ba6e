import { setImmediate as yieldToOthers } from 'node:timers/promises';
import type { Logger } from './logger.js';
import { isDatabaseUnavailable } from './postgres.js';

/** How often old rows are pruned (and once at start). */
export const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** Rows deleted in one statement: one short write at a time, so that the service's work never waits long behind it. */
const PRUNE_BATCH = 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

export interface RetentionOptions {
  /** Deletes up to `limit` rows older than `before` (an ISO time), and tells how many it deleted. */
  prune: (before: string, limit: number) => Promise<number>;
  retentionDays: number;
  logger: Logger;
  now: () => Date;
  everyMs?: number;
  /** The log's words: what could not be pruned, and what was. */
  says: { notPruned: string; pruned: (count: number, days: number) => string };
}

/**
 * Keeps a table from growing forever: every PRUNE_EVERY_MS (and at start) its rows older than the
 * retention are deleted, a batch at a time with a turn of the event loop between. A database out
 * of reach is tried again next time.
 */
export function startRetention(options: RetentionOptions): { stop(): Promise<void> } {
  const { logger, says } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const pruneAll = async () => {
    const before = new Date(options.now().getTime() - options.retentionDays * DAY_MS).toISOString();
    let pruned = 0;
    try {
      let deleted: number;
      do {
        deleted = await options.prune(before, PRUNE_BATCH);
        pruned += deleted;
        await yieldToOthers();
      } while (deleted === PRUNE_BATCH && !stopped);
    } catch (error) {
      logger.warn(`${says.notPruned} (${(error as Error).message}); trying again in an hour`, {
        error: isDatabaseUnavailable(error) ? (error as Error).message : (error as Error).stack,
      });
    }
    if (pruned > 0) logger.info(says.pruned(pruned, options.retentionDays), { pruned, before });
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
