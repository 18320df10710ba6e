// Not the package's index, which opens SQLite: the Lambda handler loads this file too.
import { AppError } from '@welcome/common/errors';
import { Webhook } from 'standardwebhooks';
import { readCustomerRecord } from '../clients/crm-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import { deadLetter, deliverCustomer, type DeliveryDeps, type DeliveryResult } from './delivery.js';

/** A CRM event whose signature was checked: the webhook-id and the parsed body. */
export interface CrmEvent {
  webhookId: string;
  type: unknown;
  data: unknown;
}

/** What the webhook route and the Lambda handler answer: the same statuses for the same event. */
export interface WebhookAnswer {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

/**
 * Checks a CRM webhook as Standard Webhooks says, over the body's exact bytes: the signature made
 * with `secret` over `id.timestamp.body`, and a timestamp at most five minutes off. Anything
 * unsigned, wrongly signed, tampered with or stale is a 401, and nothing is done with it.
 */
export function verifyCrmEvent(secret: string, headers: Record<string, string | string[] | undefined>, body: Buffer): CrmEvent {
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(', ') : (value ?? '');
  };
  const signed = { 'webhook-id': header('webhook-id'), 'webhook-timestamp': header('webhook-timestamp'), 'webhook-signature': header('webhook-signature') };
  let event: unknown;
  try {
    event = new Webhook(secret).verify(body, signed);
  } catch (error) {
    throw new AppError(401, 'invalid-signature', `The webhook is not signed by the CRM: ${(error as Error).message}.`, {
      headers: { 'WWW-Authenticate': 'Signature realm="crm-webhook"' },
      cause: error,
    });
  }
  const { type, data } = (typeof event === 'object' && event !== null ? event : {}) as { type?: unknown; data?: unknown };
  return { webhookId: signed['webhook-id'], type, data };
}

const answer = (status: number, body: unknown, headers?: Record<string, string>): WebhookAnswer => ({ status, body, ...(headers ? { headers } : {}) });

/** A problem document (RFC 9457), with extension members where the answer has more to tell. */
const problemAnswer = (status: number, code: string, title: string, detail: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>) =>
  answer(status, { type: `/problems/${code}`, title, status, detail, ...extra }, headers);

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
  if (event.type !== 'customer.created') return answer(200, { webhookId: event.webhookId, outcome: 'ignored', type: event.type ?? null });
  const record = readCustomerRecord(event.data);
  deps.store?.markWebhookReceived(deps.now(), record.id);
  if (record.problem !== undefined) {
    const reason = `The CRM record is unusable: ${record.problem}`;
    if (!deps.store) return unprocessable(event.webhookId, reason, { customer: record.raw });
    const letter = await deadLetter(
      { store: deps.store, logger: deps.logger, now: deps.now },
      { customerId: record.id ?? null, customer: record.raw, status: null, reason },
      `Customer ${record.id} from a CRM webhook is unusable (${record.problem}); dead-lettered`,
      { customerId: record.id, reason, via: 'webhook' },
    );
    return answer(200, { webhookId: event.webhookId, customerId: record.id ?? null, outcome: 'deadLettered', deadLetterId: letter.id });
  }
  let result: DeliveryResult;
  try {
    result = await deliverCustomer(deps, record.customer, 'webhook');
  } catch (error) {
    if (!(error instanceof UpstreamUnavailableError)) throw error;
    deps.logger.warn(`${error.message}; the CRM will send customer ${record.id} again`, { customerId: record.id, webhookId: event.webhookId });
    return problemAnswer(503, 'upstream-unavailable', 'Service Unavailable', `${error.message}; send the event again later.`, {}, { 'Retry-After': '5' });
  }
  if (result.outcome === 'refused') {
    return unprocessable(event.webhookId, `The Inventory refused customer ${result.customerId} with ${result.status}.`, {
      customerId: result.customerId,
      inventoryStatus: result.status,
      inventoryAnswer: result.answer,
    });
  }
  return answer(200, { webhookId: event.webhookId, ...result });
}
