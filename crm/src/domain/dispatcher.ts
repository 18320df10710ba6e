import type { Logger } from '@welcome/common';
import type { WebhookSender } from '../clients/webhook-sender.js';
import type { DueMessage, WebhookStore } from '../store/webhook-store.js';

export interface Dispatcher {
  /** A message may be due now (a customer was just committed, a retry was asked for). */
  wake(): void;
  /** Sends nothing new, and waits for the attempts in flight. */
  stop(): Promise<void>;
}

/** setTimeout's longest delay; a later due time is reached in more than one sleep. */
const MAX_SLEEP_MS = 2 ** 31 - 1;

/**
 * Sends the outbox: whatever is due, up to `concurrency` attempts at once, each recorded when it
 * ends; a failed attempt is tried again after the next delay of `schedule`, and once the
 * schedule is spent the message is `failed` until someone retries it. Between due times it
 * sleeps on one timer, woken early by `wake()`.
 */
export function startDispatcher(options: {
  webhooks: WebhookStore;
  send: WebhookSender;
  schedule: readonly number[];
  concurrency: number;
  logger: Logger;
  now: () => Date;
  /** Told of each attempt's end (for metrics). */
  onAttempt?: (result: 'delivered' | 'retrying' | 'failed') => void;
}): Dispatcher {
  const { webhooks, logger, now } = options;
  const inFlight = new Map<number, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const attempt = async (message: DueMessage) => {
    const at = now();
    const result = await options.send(message, at);
    const attempts = message.attempts + 1;
    const delay = options.schedule[attempts - 1];
    const retryAt = result.delivered || delay === undefined ? null : new Date(at.getTime() + delay).toISOString();
    const fields = { messageId: message.id, endpointId: message.endpoint.id, url: message.endpoint.url, attempts, status: result.status };
    await webhooks.recordAttempt(message.id, { at: at.toISOString(), status: result.status, error: result.error, outcome: result.delivered ? 'delivered' : { retryAt } });
    if (result.delivered) {
      logger.info(`Webhook message ${message.id} delivered to ${message.endpoint.url}`, fields);
      options.onAttempt?.('delivered');
    } else if (retryAt) {
      logger.warn(`Webhook message ${message.id} to ${message.endpoint.url} failed (${result.error}); retrying at ${retryAt}`, { ...fields, error: result.error, retryAt });
      options.onAttempt?.('retrying');
    } else {
      logger.error(`Webhook message ${message.id} to ${message.endpoint.url} failed ${attempts} times; it stays failed until retried`, { ...fields, error: result.error });
      options.onAttempt?.('failed');
    }
  };

  const pump = () => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = undefined;
    const free = options.concurrency - inFlight.size;
    if (free > 0) {
      for (const message of webhooks.due(now().toISOString(), free, new Set(inFlight.keys()))) {
        const running = attempt(message)
          .catch((error: unknown) => {
            logger.error('Webhook dispatch failed unexpectedly; the message stays pending', { messageId: message.id, error: (error as Error).stack });
          })
          .finally(() => {
            inFlight.delete(message.id);
            pump();
          });
        inFlight.set(message.id, running);
      }
    }
    // Messages due now but not taken wait for an attempt in flight to end; the next later one, for a timer.
    const next = webhooks.nextDueAt();
    const wait = next === undefined ? undefined : Date.parse(next) - now().getTime();
    if (wait !== undefined && wait > 0) timer = setTimeout(pump, Math.min(wait, MAX_SLEEP_MS));
  };

  pump();
  return {
    wake: pump,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.all(inFlight.values());
    },
  };
}
