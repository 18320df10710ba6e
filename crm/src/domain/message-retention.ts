import { setImmediate as yieldToOthers } from 'node:timers/promises';
import { isDatabaseUnavailable, type Logger } from '@welcome/common';
import type { WebhookStore } from '../store/webhook-store.js';

/** WEBHOOK_RETENTION_DAYS when not set: Svix keeps a message's history as long. */
export const DEFAULT_WEBHOOK_RETENTION_DAYS = 30;

/** How often the message log is pruned (and once at start). */
export const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** Messages deleted in one statement: one short write at a time, so that intake never waits long behind it. */
const PRUNE_BATCH = 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

export interface MessagePrunerOptions {
  webhooks: WebhookStore;
  retentionDays: number;
  logger: Logger;
  now: () => Date;
  everyMs?: number;
}

/**
 * Keeps the webhook message log from growing forever: every PRUNE_EVERY_MS (and at start) the
 * delivered and failed messages whose last attempt is older than the retention are deleted, a
 * batch at a time; pending ones are never touched. A database out of reach is tried again next time.
 */
export function startMessagePruner(options: MessagePrunerOptions): { stop(): Promise<void> } {
  const { webhooks, logger } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const pruneAll = async () => {
    const before = new Date(options.now().getTime() - options.retentionDays * DAY_MS).toISOString();
    let pruned = 0;
    try {
      let deleted: number;
      do {
        deleted = await webhooks.pruneMessages(before, PRUNE_BATCH);
        pruned += deleted;
        await yieldToOthers();
      } while (deleted === PRUNE_BATCH && !stopped);
    } catch (error) {
      logger.warn(
        `The webhook message log could not be pruned (${(error as Error).message}); trying again in an hour`,
        {
          error: isDatabaseUnavailable(error) ? (error as Error).message : (error as Error).stack,
        },
      );
    }
    if (pruned > 0) {
      logger.info(
        `Pruned ${pruned} webhook messages whose last attempt was more than ${options.retentionDays} days ago`,
        { pruned, before },
      );
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
