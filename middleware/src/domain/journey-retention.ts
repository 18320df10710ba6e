import { startRetention, type Logger } from '@welcome/common';
import type { SyncStore } from '../store/sync-store.js';

export { PRUNE_EVERY_MS } from '@welcome/common';

/** JOURNEY_RETENTION_DAYS when not set. */
export const DEFAULT_JOURNEY_RETENTION_DAYS = 30;

export interface JourneyRetentionOptions {
  store: Pick<SyncStore, 'pruneJourneys'>;
  retentionDays: number;
  logger: Logger;
  now: () => Date;
  everyMs?: number;
}

/** Keeps the journeys from growing forever: steps older than the retention are deleted, hourly and at start. */
export function startJourneyRetention(options: JourneyRetentionOptions): { stop(): Promise<void> } {
  const { store, ...rest } = options;
  return startRetention({
    ...rest,
    prune: (before, limit) => store.pruneJourneys(before, limit),
    says: {
      notPruned: 'Old journey steps could not be pruned',
      pruned: (count, days) => `Pruned ${count} journey steps older than ${days} days`,
    },
  });
}
