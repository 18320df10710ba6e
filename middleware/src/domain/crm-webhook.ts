// Not the package's index, which opens SQLite: the Lambda handler loads this file too.
import { AppError } from '@welcome/common/errors';
import type { Logger } from '@welcome/common/logger';
import { Webhook } from 'standardwebhooks';
import { readCustomerRecord } from '../clients/crm-client.js';
import { ThrottledError, UpstreamUnavailableError } from '../clients/upstream.js';
import type { WebhookDelivery } from './delivery/core.js';
import { DeliveryHeldError } from './flow/held.js';
import type { DeliveryResult } from './model/delivery.js';
import type { WebhookOutcome } from './model/webhook.js';

/** A CRM event whose signature was checked: its webhook-id and its parsed body's type and data. */
export interface CrmEvent {
  webhookId: string;
  type: unknown;
  data: unknown;
}

/**
 * A request whose signature was checked: one event, or, from an endpoint whose batch size is
 * above 1, a JSON array of events, each with its own webhook-id as `id`.
 */
export interface CrmRequest {
  webhookId: string;
  events: CrmEvent[];
  batch: boolean;
}

const fieldsOf = (value: unknown): { id?: unknown; type?: unknown; data?: unknown } =>
  (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as {
    id?: unknown;
    type?: unknown;
    data?: unknown;
  };

/**
 * Checks a CRM webhook as Standard Webhooks says, over the body's exact bytes: the signature made
 * with `secret` over `id.timestamp.body`, and a timestamp at most five minutes off. Anything
 * unsigned, wrongly signed, tampered with or stale is a 401, and nothing is done with it.
 */
export function verifyCrmRequest(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): CrmRequest {
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(', ') : (value ?? '');
  };
  const signed = {
    'webhook-id': header('webhook-id'),
    'webhook-timestamp': header('webhook-timestamp'),
    'webhook-signature': header('webhook-signature'),
  };
  let payload: unknown;
  try {
    payload = new Webhook(secret).verify(body, signed);
  } catch (error) {
    throw new AppError(401, 'invalid-signature', `The webhook is not signed by the CRM: ${(error as Error).message}.`, {
      headers: { 'WWW-Authenticate': 'Signature realm="crm-webhook"' },
      cause: error,
    });
  }
  const webhookId = signed['webhook-id'];
  if (!Array.isArray(payload)) {
    const { type, data } = fieldsOf(payload);
    return { webhookId, events: [{ webhookId, type, data }], batch: false };
  }
  const events = payload.map((element: unknown, index) => {
    const { id, type, data } = fieldsOf(element);
    return { webhookId: typeof id === 'string' ? id : `${webhookId}#${index}`, type, data };
  });
  return { webhookId, events, batch: true };
}

/** What handling the CRM's webhooks takes: the delivery core, a log, and (in a middleware process) a note of each. */
export interface WebhookHandling {
  delivery: WebhookDelivery;
  logger: Logger;
  /** Notes that a signed webhook arrived, about this customer: /status tells when the last one did. */
  noteWebhook?: ((customerId: number | undefined) => void) | undefined;
}

/** How long the CRM is asked to wait before it sends again what found the Inventory unavailable. */
const RETRY_AFTER_S = 5;

const inventoryUnavailable = (detail: string, extensions: Record<string, unknown> = {}, retryAfterS = RETRY_AFTER_S) =>
  new AppError(503, 'upstream-unavailable', detail, { headers: { 'Retry-After': String(retryAfterS) }, extensions });

/**
 * Flow control holds the asks: a paused delivery takes the event (202: the customer waits for the
 * poller, the cursor holds it); a Retry-After or an open breaker is a 503 that says how long to
 * wait, so the CRM keeps the event and sends it again then.
 */
function answerHeld(error: DeliveryHeldError, webhookId: string, customerId: number): WebhookOutcome {
  if (error.reason === 'paused') return { webhookId, customerId, outcome: 'pending', held: 'paused' };
  throw inventoryUnavailable(
    `Not sent to the Inventory: ${error.message}; send the event again later.`,
    {},
    error.retryAfterS,
  );
}

/**
 * Without a dead-letter table (the Lambda handler), a refusal stays with the sender: a 422, which
 * the CRM's message log keeps as failed, visible and retry-able.
 */
const refused = (detail: string, extensions: Record<string, unknown>) =>
  new AppError(422, 'refused', detail, { extensions });

/**
 * Acts on a verified CRM event through the one delivery core: `customer.created` gets its
 * package (or its refusal kept), other types are acknowledged and ignored. An Inventory that
 * gives no answer is a 503 AppError, so that the CRM sends the event again later; a refusal with
 * no dead-letter table to keep it, a 422 AppError.
 */
export async function handleCrmEvent(parts: WebhookHandling, event: CrmEvent): Promise<WebhookOutcome> {
  if (event.type !== 'customer.created')
    return { webhookId: event.webhookId, outcome: 'ignored', type: event.type ?? null };
  const record = readCustomerRecord(event.data);
  parts.noteWebhook?.(record.id);
  if (record.problem !== undefined) {
    const letter = await parts.delivery.deadLetterUnusable(record, 'webhook');
    const reason = `The CRM record is unusable: ${record.problem}`;
    if (!letter) throw refused(reason, { webhookId: event.webhookId, customer: record.raw });
    return {
      webhookId: event.webhookId,
      customerId: record.id ?? null,
      outcome: 'deadLettered',
      deadLetterId: letter.id,
    };
  }
  let result: DeliveryResult;
  try {
    result = await parts.delivery.deliver(record, 'webhook');
  } catch (error) {
    if (error instanceof DeliveryHeldError) return answerHeld(error, event.webhookId, record.id);
    if (!(error instanceof UpstreamUnavailableError)) throw error;
    parts.logger.warn(`${error.message}; the CRM will send customer ${record.id} again`, {
      customerId: record.id,
      webhookId: event.webhookId,
    });
    const retryAfterS = error instanceof ThrottledError ? Math.max(1, Math.ceil(error.retryAfterMs / 1000)) : undefined;
    throw inventoryUnavailable(`${error.message}; send the event again later.`, {}, retryAfterS);
  }
  if (result.outcome === 'refused') {
    throw refused(`The Inventory refused customer ${result.customerId} with ${result.status}.`, {
      webhookId: event.webhookId,
      customerId: result.customerId,
      inventoryStatus: result.status,
      inventoryAnswer: result.answer,
    });
  }
  return { webhookId: event.webhookId, ...result, outcome: result.outcome };
}

/** How many events of one batch are delivered at once. */
const BATCH_CONCURRENCY = 16;

/** Each event's answer: its outcome, or the problem it met, with that problem's status and headers. */
async function answerEach(parts: WebhookHandling, events: readonly CrmEvent[]) {
  const answers: Array<{ status: number; body: unknown; retryAfterS?: number }> = [];
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < events.length; index = next++) {
      try {
        answers[index] = { status: 200, body: await handleCrmEvent(parts, events[index]!) };
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        const retryAfter = Number(error.headers['Retry-After']);
        answers[index] = {
          status: error.status,
          body: error.toProblem(),
          ...(retryAfter ? { retryAfterS: retryAfter } : {}),
        };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, events.length) }, worker));
  return answers;
}

/** What the receiver answers a request it acted on: 202 when every event waits (delivery paused), else 200. */
export interface WebhookAnswer {
  status: 200 | 202;
  body: WebhookOutcome | { webhookId: string; results: unknown[] };
}

const isPending = (body: unknown) => (body as { outcome?: unknown } | null)?.outcome === 'pending';

/**
 * Acts on a verified request: its one event as handleCrmEvent does, or each event of a batch
 * through the same core, up to BATCH_CONCURRENCY at once, answered once all are: each event's
 * answer in order; a 503 AppError (with the same results, and the longest Retry-After any event
 * met) when any found the Inventory unavailable (the CRM sends the batch again later, and the
 * events handled already are not asked for again); a 422 when the Lambda handler had one refused.
 */
export async function handleCrmRequest(parts: WebhookHandling, request: CrmRequest): Promise<WebhookAnswer> {
  const { events, webhookId } = request;
  if (!request.batch) {
    const outcome = await handleCrmEvent(parts, events[0]!);
    return { status: isPending(outcome) ? 202 : 200, body: outcome };
  }
  const answers = await answerEach(parts, events);
  const results = answers.map((each) => each.body);
  const count = (status: number) => answers.filter((each) => each.status === status).length;
  const of = `of the batch's ${events.length} events`;
  if (count(503) > 0) {
    const detail =
      `${count(503)} ${of} could not be delivered: ` + 'the Inventory is unavailable; send the batch again later.';
    const retryAfterS = Math.max(RETRY_AFTER_S, ...answers.map((each) => each.retryAfterS ?? 0));
    throw inventoryUnavailable(detail, { webhookId, results }, retryAfterS);
  }
  if (count(422) > 0) throw refused(`The Inventory refused ${count(422)} ${of}.`, { webhookId, results });
  return { status: results.every(isPending) ? 202 : 200, body: { webhookId, results } };
}
