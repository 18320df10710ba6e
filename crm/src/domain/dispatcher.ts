import { isDatabaseUnavailable, type Logger } from '@welcome/common';
import type { WebhookSender } from '../clients/webhook-sender.js';
import type { DueMessage, WebhookStore } from '../store/webhooks/webhook-store.js';
import { createOutcomeRecorder, named, type AttemptResult, type OutcomeRecording } from './attempt-outcomes.js';

export interface Dispatcher {
  /** A message may be due now (a customer was just committed, a retry was asked for). */
  wake(): void;
  /** Sends nothing new, and waits for the attempts in flight. */
  stop(): Promise<void>;
}

/**
 * The longest the dispatcher sleeps. Other replicas make messages due without telling this one
 * (a retry asked for there, the lease of a replica that died ending): a wake-up missed costs at most this.
 */
export const MAX_SLEEP_MS = 10_000;

/** How soon to look again when a message due now was claimed by another replica at the same instant. */
const CONTENDED_RETRY_MS = 100;

/** While attempts are in flight, the outbox is looked at once this many slots are free. */
const CLAIM_AT_LEAST = 4;

/** How soon to look again when the outbox could not be read. */
const UNAVAILABLE_RETRY_MS = 2000;

export interface DispatcherOptions extends Omit<OutcomeRecording, 'disableAfterMs' | 'onAttempt'> {
  webhooks: WebhookStore;
  send: WebhookSender;
  schedule: readonly number[];
  concurrency: number;
  /** How long a claimed message is this replica's to send, before any replica may claim it again. */
  leaseMs: number;
  logger: Logger;
  now: () => Date;
  /** Told how many messages' attempts ended, and how (for metrics). */
  onAttempt?: (result: AttemptResult, messages: number) => void;
  /** WEBHOOK_DISABLE_AFTER in ms: an endpoint whose every attempt has failed for this long is disabled. */
  disableAfterMs?: number | undefined;
}

/** Sends one request, and records its outcome for each message it carried and for its endpoint. */
async function sendAndRecord(
  options: Pick<DispatcherOptions, 'send' | 'now' | 'logger'>,
  record: ReturnType<typeof createOutcomeRecorder>,
  messages: readonly DueMessage[],
  leaseUntil: string,
): Promise<void> {
  const messageIds = messages.map((message) => message.id);
  try {
    const at = options.now();
    await record(messages, at, await options.send(messages, at));
  } catch (error) {
    if (isDatabaseUnavailable(error)) {
      options.logger.warn(
        `Webhook ${named(messages)} was sent, but the attempt could not be recorded; ` +
          `it is sent again once its lease ends at ${leaseUntil}`,
        { messageIds, leaseUntil },
      );
    } else {
      options.logger.error('Webhook dispatch failed unexpectedly; the messages stay pending', {
        messageIds,
        error: (error as Error).stack,
      });
    }
  }
}

/**
 * Background work has no request to answer: an outbox that cannot be read is said once, when it
 * begins, and once when it ends.
 */
function outboxWatch(logger: Logger) {
  let failingSince: Date | undefined;
  return {
    readable() {
      if (failingSince)
        logger.info('The webhook dispatcher reads its outbox again', { since: failingSince.toISOString() });
      failingSince = undefined;
    },
    unreadable(error: unknown) {
      if (!failingSince) {
        logger.error(
          `The webhook dispatcher cannot read its outbox (${(error as Error).message}); ` +
            `trying again every ${UNAVAILABLE_RETRY_MS / 1000} s`,
          { error: isDatabaseUnavailable(error) ? (error as Error).message : (error as Error).stack },
        );
      }
      failingSince ??= new Date();
    },
  };
}

/** How long to sleep before the next message is due to be claimed (MAX_SLEEP_MS at most). */
async function sleepUntilDue(webhooks: Pick<WebhookStore, 'nextDueAt'>, now: () => Date): Promise<number> {
  const next = await webhooks.nextDueAt();
  if (next === undefined) return MAX_SLEEP_MS;
  const wait = Date.parse(next) - now().getTime();
  if (wait > 0) return Math.min(wait, MAX_SLEEP_MS);
  // Due now but not taken: another replica was quicker.
  return CONTENDED_RETRY_MS;
}

/**
 * Sends the outbox: claims what is due, up to `concurrency` requests at once (one message each, or
 * several for an endpoint with a batch size above 1), each message's attempt recorded when its
 * request ends; a failed attempt is tried again after the next delay of `schedule`, and once the
 * schedule is spent the message is `failed` until someone retries it. Any number of replicas may
 * run one on the same database: a claim leases its messages, so none is sent by two at once.
 * Between due times it sleeps on one timer, woken early by `wake()`.
 */
export function startDispatcher(options: DispatcherOptions): Dispatcher {
  const { webhooks, logger, now } = options;
  const inFlight = new Map<number, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let pumping: Promise<void> | undefined;
  let wokenWhilePumping = false;
  const outbox = outboxWatch(logger);

  const record = createOutcomeRecorder({ ...options, disableAfterMs: options.disableAfterMs });

  const run = (messages: readonly DueMessage[], leaseUntil: string) => {
    const key = messages[0]!.id;
    const running = sendAndRecord(options, record, messages, leaseUntil).finally(() => {
      inFlight.delete(key);
      pumpSoon();
    });
    inFlight.set(key, running);
  };

  /**
   * How many requests' worth to claim now: every free slot, but while requests are in flight only
   * once CLAIM_AT_LEAST slots are free, so that under load one look at the outbox fills several.
   */
  const slotsToClaim = () => {
    const free = options.concurrency - inFlight.size;
    return free >= Math.min(CLAIM_AT_LEAST, options.concurrency) || (free > 0 && inFlight.size === 0) ? free : 0;
  };

  /** Claims what is due and free to take, and starts sending it; tells how long to sleep before looking again. */
  const claimAndSend = async (): Promise<number> => {
    do {
      wokenWhilePumping = false;
      const free = slotsToClaim();
      if (free > 0) {
        const at = now();
        const leaseUntil = new Date(at.getTime() + options.leaseMs).toISOString();
        for (const messages of await webhooks.claimDue(at.toISOString(), free, leaseUntil)) run(messages, leaseUntil);
      }
    } while (wokenWhilePumping && !stopped);
    // Too few slots free to look: the end of an attempt in flight wakes the dispatcher, and nothing
    // need be looked up until then.
    return slotsToClaim() === 0 ? MAX_SLEEP_MS : sleepUntilDue(webhooks, now);
  };

  const pumpOnce = async () => {
    clearTimeout(timer);
    let sleep: number;
    try {
      sleep = await claimAndSend();
      outbox.readable();
    } catch (error) {
      outbox.unreadable(error);
      sleep = UNAVAILABLE_RETRY_MS;
    }
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(pump, sleep);
  };

  /** Attempts that end in the same turn of the event loop free their slots for one claim. */
  let pumpScheduled = false;
  function pumpSoon(): void {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(() => {
      pumpScheduled = false;
      pump();
    });
  }

  function pump(): void {
    if (stopped) return;
    if (pumping) {
      wokenWhilePumping = true;
      return;
    }
    pumping = pumpOnce().finally(() => {
      pumping = undefined;
      if (wokenWhilePumping) pump();
    });
  }

  pump();
  return {
    wake: pump,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // A claim under way sends what it took: those attempts are waited for too.
      await pumping;
      await Promise.all(inFlight.values());
    },
  };
}
