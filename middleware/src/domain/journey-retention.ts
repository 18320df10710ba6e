import { startRetention, type Logger } from '@welcome/common';
import type { JourneyStore } from '../store/journeys/journey-store.js';

export { PRUNE_EVERY_MS } from '@welcome/common';

/** JOURNEY_RETENTION_DAYS when not set. */
export const DEFAULT_JOURNEY_RETENTION_DAYS = 30;

export interface JourneyRetentionOptions {
  journeys: Pick<JourneyStore, 'prune'>;
  retentionDays: number;
  logger: Logger;
  now: () => Date;
  everyMs?: number;
}

/** Keeps the journeys from growing forever: steps older than the retention are deleted, hourly and at start. */
export function startJourneyRetention(options: JourneyRetentionOptions): { stop(): Promise<void> } {
  const { journeys, ...rest } = options;
  return startRetention({
    ...rest,
    prune: (before, limit) => journeys.prune(before, limit),
    says: {
      notPruned: 'Old journey steps could not be pruned',
      pruned: (count, days) => `Pruned ${count} journey steps older than ${days} days`,
    },
  });
}
