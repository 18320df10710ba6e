import { randomBytes } from 'node:crypto';
import { AppError, conflict, notFound, validationFailed } from '@welcome/common';
import { urlProblem } from '../clients/webhook-url.js';
import type { WebhookStore } from '../store/webhooks/webhook-store.js';
import type { Customer, WebhookEndpoint, WebhookEvent, WebhookMessage } from './model.js';

export { MAX_URL_LENGTH, urlProblem } from '../clients/webhook-url.js';
export { MAX_BATCH_SIZE } from './model.js';

/** At most this many endpoints, so that one customer never fans out into an unbounded number of messages. */
export const MAX_WEBHOOK_ENDPOINTS = 100;

export interface WebhookDeps {
  webhooks: WebhookStore;
  now: () => Date;
  /** Told when a message is due now, so that the dispatcher sends it without waiting. */
  onDue?: () => void;
}

/**
 * The `customer.created` event of a customer just stored. Its body is made once, stored with the
 * customer, and sent as it is by every attempt.
 */
export const customerCreatedEvent = (customer: Customer): WebhookEvent => ({
  eventType: 'customer.created',
  payload: JSON.stringify({ type: 'customer.created', timestamp: customer.createdAt, data: customer }),
});

/** An endpoint as the API shows it after creation: never its secret. */
export type PublicEndpoint = Omit<WebhookEndpoint, 'secret'>;
export const withoutSecret = ({ secret: _secret, ...endpoint }: WebhookEndpoint): PublicEndpoint => endpoint;

/** A secret as Standard Webhooks writes them: `whsec_` and base64 of 24 random bytes. */
export function makeSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

const tooManyEndpoints = () =>
  conflict(
    'too-many-endpoints',
    `There are already ${MAX_WEBHOOK_ENDPOINTS} webhook endpoints, the most this CRM keeps; delete one first.`,
  );

export async function createEndpoint(
  deps: WebhookDeps,
  input: { url: string; secret?: string | undefined; batchSize?: number | undefined },
): Promise<WebhookEndpoint> {
  const problem = urlProblem(input.url);
  if (problem) throw validationFailed([{ field: 'url', message: problem }]);
  const endpoint = await deps.webhooks.createEndpoint(
    {
      url: input.url,
      secret: input.secret ?? makeSecret(),
      batchSize: input.batchSize ?? 1,
      createdAt: deps.now().toISOString(),
    },
    MAX_WEBHOOK_ENDPOINTS,
  );
  if (!endpoint) throw tooManyEndpoints();
  return endpoint;
}

/**
 * Makes sure an endpoint with this url and secret exists, with this batch size (the WEBHOOK_URL /
 * WEBHOOK_SECRET / WEBHOOK_BATCH_SIZE bootstrap): replicas starting together make one.
 */
export async function ensureEndpoint(
  deps: WebhookDeps,
  wanted: { url: string; secret: string; batchSize: number },
): Promise<{ endpoint: WebhookEndpoint; created: boolean }> {
  const ensured = await deps.webhooks.findOrCreateEndpoint(
    { ...wanted, createdAt: deps.now().toISOString() },
    MAX_WEBHOOK_ENDPOINTS,
  );
  if (!ensured) throw tooManyEndpoints();
  return ensured;
}

export async function getEndpoint(deps: WebhookDeps, id: number): Promise<WebhookEndpoint> {
  const endpoint = await deps.webhooks.findEndpoint(id);
  if (!endpoint) throw notFound(`There is no webhook endpoint ${id}.`);
  return endpoint;
}

export async function listEndpoints(deps: WebhookDeps, after: number, limit: number): Promise<PublicEndpoint[]> {
  return (await deps.webhooks.listEndpoints(after, limit)).map(withoutSecret);
}

export async function deleteEndpoint(deps: WebhookDeps, id: number): Promise<void> {
  if (!(await deps.webhooks.deleteEndpoint(id))) throw notFound(`There is no webhook endpoint ${id}.`);
}

export async function listMessages(
  deps: WebhookDeps,
  endpointId: number,
  after: number,
  limit: number,
): Promise<WebhookMessage[]> {
  await getEndpoint(deps, endpointId);
  return deps.webhooks.listMessages(endpointId, after, limit);
}

/**
 * Enables an endpoint again (its kept messages, pending or failed, are sent again, each on a fresh
 * schedule) or disables it (nothing is sent to it; its messages are kept). Either one already is: no change.
 */
export async function setEndpointEnabled(deps: WebhookDeps, id: number, enabled: boolean): Promise<WebhookEndpoint> {
  const endpoint = await getEndpoint(deps, id);
  if (endpoint.enabled === enabled) return endpoint;
  const at = deps.now().toISOString();
  if (!enabled) {
    await deps.webhooks.disableEndpoint(id, at, 'disabled by PATCH { "enabled": false }');
    return getEndpoint(deps, id);
  }
  const enabledAgain = await deps.webhooks.enableEndpoint(id, at);
  if (!enabledAgain) throw notFound(`There is no webhook endpoint ${id}.`);
  deps.onDue?.();
  return enabledAgain;
}

/** A failed or pending message is sent again now; a delivered one, or one of a disabled endpoint, is a conflict. */
export async function retryMessage(deps: WebhookDeps, endpointId: number, messageId: number): Promise<WebhookMessage> {
  const endpoint = await getEndpoint(deps, endpointId);
  if (!endpoint.enabled) {
    throw new AppError(
      409,
      'endpoint-disabled',
      `Webhook endpoint ${endpointId} is disabled (${endpoint.disabledReason}); enable it first: ` +
        'PATCH /webhook-endpoints/{id} { "enabled": true } sends all its kept messages again.',
    );
  }
  const message = await deps.webhooks.findMessage(endpointId, messageId);
  if (!message) throw notFound(`Webhook endpoint ${endpointId} has no message ${messageId}.`);
  if (message.status === 'delivered') {
    throw new AppError(
      409,
      'message-delivered',
      `Message ${messageId} was delivered already; there is nothing to retry.`,
    );
  }
  const due = (await deps.webhooks.makeDue(endpointId, messageId, deps.now().toISOString()))!;
  deps.onDue?.();
  return due;
}
