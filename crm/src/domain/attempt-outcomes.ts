import type { Logger } from '@welcome/common';
import type { SendResult } from '../clients/webhook-sender.js';
import type { DueMessage, WebhookStore } from '../store/webhooks/webhook-store.js';

/** How an attempt ended, for the metrics: delivered, to be tried again, failed for good, or asked to wait. */
export type AttemptResult = 'delivered' | 'retrying' | 'failed' | 'throttled';

/** What recording the outcome of a request takes. */
export interface OutcomeRecording {
  webhooks: Pick<WebhookStore, 'recordAttempt' | 'recordEndpointAttempt' | 'disableEndpoint'>;
  schedule: readonly number[];
  /** WEBHOOK_DISABLE_AFTER: an endpoint whose every attempt failed for this long is disabled; undefined: never. */
  disableAfterMs: number | undefined;
  logger: Logger;
  onAttempt?: ((result: AttemptResult, messages: number) => void) | undefined;
}

/** Names the messages of one request in a log line: "message 12", or "messages 12 to 40 (29)". */
export const named = (messages: readonly DueMessage[]) =>
  messages.length === 1
    ? `message ${messages[0]!.id}`
    : `messages ${messages[0]!.id} to ${messages.at(-1)!.id} (${messages.length})`;

const fieldsOf = (messages: readonly DueMessage[], result: SendResult) => ({
  messageIds: messages.map((message) => message.id),
  endpointId: messages[0]!.endpoint.id,
  url: messages[0]!.endpoint.url,
  status: result.status,
});

/** What the recorder keeps between requests: until when each endpoint's Retry-After was said in the log. */
type Recorder = OutcomeRecording & { toldUntil: Map<number, number> };

async function recordThrottled(
  recorder: Recorder,
  messages: readonly DueMessage[],
  at: Date,
  result: SendResult & { retryAfterMs: number },
): Promise<string | null> {
  const { webhooks, logger, toldUntil } = recorder;
  const { endpoint } = messages[0]!;
  const throttledUntil = new Date(at.getTime() + result.retryAfterMs).toISOString();
  const attempt = { at: at.toISOString(), status: result.status, error: result.error, outcome: { throttledUntil } };
  await Promise.all(messages.map((message) => webhooks.recordAttempt(message.id, attempt)));
  const { failingSince } = await webhooks.recordEndpointAttempt(endpoint.id, at.toISOString(), { throttledUntil });
  // Once a window, not once a request.
  if ((toldUntil.get(endpoint.id) ?? 0) <= at.getTime()) {
    toldUntil.set(endpoint.id, Date.parse(throttledUntil));
    logger.warn(
      `Webhook endpoint ${endpoint.id} (${endpoint.url}) asked to be left alone: nothing is sent to it ` +
        `until ${throttledUntil}`,
      { ...fieldsOf(messages, result), throttledUntil },
    );
  }
  recorder.onAttempt?.('throttled', messages.length);
  return failingSince;
}

async function recordFailed(
  recorder: Recorder,
  messages: readonly DueMessage[],
  at: Date,
  result: SendResult,
): Promise<string | null> {
  const { webhooks, logger } = recorder;
  const recorded = await Promise.all(
    messages.map(async (message) => {
      const attempts = message.attempts + 1;
      const delay = recorder.schedule[attempts - 1];
      const retryAt = delay === undefined ? null : new Date(at.getTime() + delay).toISOString();
      const attempt = { at: at.toISOString(), status: result.status, error: result.error, outcome: { retryAt } };
      await webhooks.recordAttempt(message.id, attempt);
      return { message, attempts, retryAt };
    }),
  );
  const fields = fieldsOf(messages, result);
  const retrying = recorded.filter((entry) => entry.retryAt !== null);
  const spent = recorded.filter((entry) => entry.retryAt === null);
  const url = messages[0]!.endpoint.url;
  if (retrying.length > 0) {
    const { retryAt, attempts } = retrying[0]!;
    logger.warn(
      `Webhook ${named(retrying.map((entry) => entry.message))} to ${url} failed (${result.error}); ` +
        `retrying at ${retryAt}`,
      { ...fields, attempts, error: result.error, retryAt },
    );
    recorder.onAttempt?.('retrying', retrying.length);
  }
  if (spent.length > 0) {
    logger.error(
      `Webhook ${named(spent.map((entry) => entry.message))} to ${url} ` +
        `failed ${spent[0]!.attempts} times; it stays failed until retried`,
      { ...fields, attempts: spent[0]!.attempts, error: result.error },
    );
    recorder.onAttempt?.('failed', spent.length);
  }
  return (await webhooks.recordEndpointAttempt(messages[0]!.endpoint.id, at.toISOString(), 'failed')).failingSince;
}

/** Disables the endpoint once every attempt to it has failed for WEBHOOK_DISABLE_AFTER; says so once. */
async function disableIfFailingTooLong(
  recorder: Recorder,
  messages: readonly DueMessage[],
  at: Date,
  failingSince: string | null,
): Promise<void> {
  const { disableAfterMs, webhooks, logger } = recorder;
  if (failingSince === null || disableAfterMs === undefined) return;
  if (at.getTime() - Date.parse(failingSince) < disableAfterMs) return;
  const { endpoint } = messages[0]!;
  const days = Math.round(((at.getTime() - Date.parse(failingSince)) / 86_400_000) * 10) / 10;
  const reason =
    `every attempt since ${failingSince} (${days} days) failed; ` + 'enable it with PATCH { "enabled": true }';
  if (!(await webhooks.disableEndpoint(endpoint.id, at.toISOString(), reason))) return;
  logger.error(`Webhook endpoint ${endpoint.id} (${endpoint.url}) disabled: ${reason}`, {
    endpointId: endpoint.id,
    url: endpoint.url,
    failingSince,
  });
}

async function recordDelivered(recorder: Recorder, messages: readonly DueMessage[], at: Date, result: SendResult) {
  const { webhooks, logger } = recorder;
  const { endpoint } = messages[0]!;
  const attempt = { at: at.toISOString(), status: result.status, error: result.error, outcome: 'delivered' as const };
  await Promise.all(messages.map((message) => webhooks.recordAttempt(message.id, attempt)));
  // A run of failures ends: written only when there was one, so that a delivery costs no more writes.
  if (endpoint.failingSince !== null) await webhooks.recordEndpointAttempt(endpoint.id, at.toISOString(), 'delivered');
  logger.info(`Webhook ${named(messages)} delivered to ${endpoint.url}`, fieldsOf(messages, result));
  recorder.onAttempt?.('delivered', messages.length);
}

/**
 * Records how one request to an endpoint went, for each message it carried and for the endpoint:
 * delivered; failed, each message on its own schedule; or asked to wait (429 or 503 with
 * Retry-After), which holds every message of the endpoint until then, on every replica, and
 * counts against no message's schedule. An endpoint whose every attempt has failed for
 * WEBHOOK_DISABLE_AFTER is disabled, and the log says so once.
 */
export function createOutcomeRecorder(recording: OutcomeRecording) {
  const recorder: Recorder = { ...recording, toldUntil: new Map() };
  return async (messages: readonly DueMessage[], at: Date, result: SendResult): Promise<void> => {
    if (result.delivered) return recordDelivered(recorder, messages, at, result);
    const failingSince =
      result.retryAfterMs === undefined
        ? await recordFailed(recorder, messages, at, result)
        : await recordThrottled(recorder, messages, at, { ...result, retryAfterMs: result.retryAfterMs });
    await disableIfFailingTooLong(recorder, messages, at, failingSince);
  };
}
