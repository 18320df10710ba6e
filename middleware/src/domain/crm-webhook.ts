// Not the package's index, which opens SQLite: the Lambda handler loads this file too.
import { AppError } from '@welcome/common/errors';
import { Webhook } from 'standardwebhooks';
import { readCustomerRecord } from '../clients/crm-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import {
  deadLetter,
  deliverCustomer,
  inCustomerSpan,
  isRecorded,
  type DeliveryDeps,
  type DeliveryResult,
} from './delivery.js';

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

/** What the webhook route and the Lambda handler answer: the same statuses for the same event. */
export interface WebhookAnswer {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
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

const answer = (status: number, body: unknown, headers?: Record<string, string>): WebhookAnswer => ({
  status,
  body,
  ...(headers ? { headers } : {}),
});

/** A problem document (RFC 9457), with extension members where the answer has more to tell. */
const problemAnswer = (
  status: number,
  code: string,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
  headers?: Record<string, string>,
) => answer(status, { type: `/problems/${code}`, title, status, detail, ...extra }, headers);

/**
 * Without a dead-letter table (the Lambda handler), a refusal stays with the sender: a 422, which
 * the CRM's message log keeps as failed, visible and retry-able.
 */
function unprocessable(webhookId: string, detail: string, extra: Record<string, unknown>): WebhookAnswer {
  return problemAnswer(422, 'refused', 'Unprocessable Content', detail, { webhookId, ...extra });
}

/**
 * Acts on a verified CRM event through the one delivery core: `customer.created` gets its
 * package (or its refusal kept), other types are acknowledged and ignored. An Inventory that
 * gives no answer is a 503, so that the CRM sends the event again later.
 */
export async function handleCrmEvent(deps: DeliveryDeps, event: CrmEvent): Promise<WebhookAnswer> {
  if (event.type !== 'customer.created')
    return answer(200, { webhookId: event.webhookId, outcome: 'ignored', type: event.type ?? null });
  const record = readCustomerRecord(event.data);
  if (isRecorded(deps)) deps.store.markWebhookReceived(deps.now(), record.id);
  if (record.problem !== undefined) {
    const reason = `The CRM record is unusable: ${record.problem}`;
    if (!isRecorded(deps)) return unprocessable(event.webhookId, reason, { customer: record.raw });
    const letter = await deadLetter(
      { store: deps.store, logger: deps.logger, now: deps.now },
      { customerId: record.id ?? null, customer: record.raw, status: null, reason },
      `Customer ${record.id} from a CRM webhook is unusable (${record.problem}); dead-lettered`,
      { customerId: record.id, reason, via: 'webhook' },
    );
    return answer(200, {
      webhookId: event.webhookId,
      customerId: record.id ?? null,
      outcome: 'deadLettered',
      deadLetterId: letter.id,
    });
  }
  let result: DeliveryResult;
  try {
    result = await inCustomerSpan(record, 'webhook', () =>
      deliverCustomer(deps, record.customer, 'webhook', record.trace),
    );
  } catch (error) {
    if (!(error instanceof UpstreamUnavailableError)) throw error;
    deps.logger.warn(`${error.message}; the CRM will send customer ${record.id} again`, {
      customerId: record.id,
      webhookId: event.webhookId,
    });
    return problemAnswer(
      503,
      'upstream-unavailable',
      'Service Unavailable',
      `${error.message}; send the event again later.`,
      {},
      { 'Retry-After': '5' },
    );
  }
  if (result.outcome === 'refused') {
    return unprocessable(
      event.webhookId,
      `The Inventory refused customer ${result.customerId} with ${result.status}.`,
      {
        customerId: result.customerId,
        inventoryStatus: result.status,
        inventoryAnswer: result.answer,
      },
    );
  }
  return answer(200, { webhookId: event.webhookId, ...result });
}

/** How many events of one batch are delivered at once. */
const BATCH_CONCURRENCY = 16;

/**
 * Acts on a verified request: its one event as handleCrmEvent does, or each event of a batch
 * through the same core, up to BATCH_CONCURRENCY at once, answered once all are: 200 with each
 * event's answer in order; 503 when any found the Inventory unavailable (the CRM sends the batch
 * again later, and the events handled already are not asked for again); 422 when the Lambda
 * handler had one refused.
 */
export async function handleCrmRequest(deps: DeliveryDeps, request: CrmRequest): Promise<WebhookAnswer> {
  const { events, webhookId } = request;
  if (!request.batch) return handleCrmEvent(deps, events[0]!);
  const answers: WebhookAnswer[] = [];
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < events.length; index = next++)
      answers[index] = await handleCrmEvent(deps, events[index]!);
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, events.length) }, worker));
  const results = answers.map((each) => each.body);
  const count = (status: number) => answers.filter((each) => each.status === status).length;
  const of = `of the batch's ${events.length} events`;
  if (count(503) > 0) {
    const detail =
      `${count(503)} ${of} could not be delivered: ` + 'the Inventory is unavailable; send the batch again later.';
    return problemAnswer(
      503,
      'upstream-unavailable',
      'Service Unavailable',
      detail,
      { webhookId, results },
      { 'Retry-After': '5' },
    );
  }
  if (count(422) > 0)
    return problemAnswer(422, 'refused', 'Unprocessable Content', `The Inventory refused ${count(422)} ${of}.`, {
      webhookId,
      results,
    });
  return answer(200, { webhookId, results });
}
