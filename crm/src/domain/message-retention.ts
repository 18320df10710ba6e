import { startRetention, type Logger } from '@welcome/common';
import type { WebhookStore } from '../store/webhooks/webhook-store.js';

export { PRUNE_EVERY_MS } from '@welcome/common';

/** WEBHOOK_RETENTION_DAYS when not set: Svix keeps a message's history as long. */
export const DEFAULT_WEBHOOK_RETENTION_DAYS = 30;

export interface MessagePrunerOptions {
  webhooks: WebhookStore;
  retentionDays: number;
  logger: Logger;
  now: () => Date;
  everyMs?: number;
}

/**
 * Keeps the webhook message log from growing forever: the delivered and failed messages whose last
 * attempt is older than the retention are deleted, hourly and at start; pending ones are never touched.
 */
export function startMessagePruner(options: MessagePrunerOptions): { stop(): Promise<void> } {
  const { webhooks, ...rest } = options;
  return startRetention({
    ...rest,
    prune: (before, limit) => webhooks.pruneMessages(before, limit),
    says: {
      notPruned: 'The webhook message log could not be pruned',
      pruned: (count, days) => `Pruned ${count} webhook messages whose last attempt was more than ${days} days ago`,
    },
  });
}
