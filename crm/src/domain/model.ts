import { z } from 'zod';
import { MAX_URL_LENGTH } from '../clients/webhook-url.js';

// The CRM's vocabulary: what its API shows and what the domain asks its stores to keep. Each
// answer's shape is a zod schema, its type inferred from it, and the OpenAPI document's components
// are made from the same schemas (http/openapi.ts). The stores implement what the domain asks in
// these words, and import them as types only.

/** An ISO 8601 time, as every answer gives it. */
const timestamp = z.string().meta({ format: 'date-time' });

/** A positive id the CRM gave. */
const positiveId = z.int().min(1);

/** A W3C trace context, version 00. */
const traceparent = z.string().regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);

export const customerSchema = z.object({
  id: positiveId,
  name: z.string(),
  email: z.string().meta({ format: 'email' }),
  createdAt: timestamp,
  traceparent: traceparent.optional().meta({
    description:
      'The W3C trace context the customer was created in, present when the CRM records traces ' +
      '(OTEL_EXPORTER_OTLP_ENDPOINT): the middleware continues that trace when it delivers the customer, by ' +
      'webhook or by poll.',
  }),
});
export type Customer = z.infer<typeof customerSchema>;

/** A customer to store: it is given its id as it is stored. */
export type NewCustomer = Omit<Customer, 'id'>;

/** The most messages one request may carry (an endpoint's batchSize). */
export const MAX_BATCH_SIZE = 100;

/** What an endpoint's batchSize means, as the document tells it of the answers and of the request alike. */
export const BATCH_SIZE_DESCRIPTION =
  'The most messages one request carries. 1 (the default): each event alone, as Standard Webhooks sends them. ' +
  'More: the messages due together go in one request, up to this many and 60 KiB of events, as a JSON array of the ' +
  'same events, each with its `id` (its webhook-id) first, signed once under a `webhook-id` of its own ' +
  '(`batch_…`). Each message keeps its own attempts.';

/** A subscriber as the CRM keeps it, secret included: the answer to its creation, the only one that shows it. */
export const webhookEndpointSchema = z.object({
  id: positiveId,
  url: z.string().max(MAX_URL_LENGTH).meta({ format: 'uri' }),
  secret: z
    .string()
    .regex(/^whsec_/)
    .meta({ description: 'Keep it: the HMAC key of every webhook-signature sent to this endpoint.' }),
  batchSize: z.int().min(1).max(MAX_BATCH_SIZE).meta({ description: BATCH_SIZE_DESCRIPTION }),
  createdAt: timestamp,
  enabled: z.boolean().meta({
    description:
      'False once disabled: after every attempt to it failed for WEBHOOK_DISABLE_AFTER (5 days), or by PATCH. ' +
      'Nothing is sent to a disabled endpoint; its messages are kept, and sent again once it is enabled.',
  }),
  disabledAt: timestamp.nullable(),
  disabledReason: z.string().nullable().meta({ description: 'Why it was disabled; null while enabled.' }),
  throttledUntil: timestamp.nullable().meta({
    description:
      'Its last answer was a 429 or 503 with Retry-After: none of its messages is sent before this time, ' +
      'by any replica. Null (or past) otherwise.',
  }),
  failingSince: timestamp
    .nullable()
    .meta({ description: 'Since when every attempt to it has failed; null since its last 2xx.' }),
});
export type WebhookEndpoint = z.infer<typeof webhookEndpointSchema>;

/** What an endpoint is made of when it is stored: its manners start clean. */
export type NewEndpoint = Pick<WebhookEndpoint, 'url' | 'secret' | 'batchSize' | 'createdAt'>;

/** A subscriber as every other answer shows it: without its secret. */
export const publicEndpointSchema = webhookEndpointSchema
  .omit({ secret: true })
  .meta({ description: 'A subscriber. Its secret is shown only in the answer to its creation.' });

export const messageStatus = z.enum(['pending', 'delivered', 'failed']);
export type MessageStatus = z.infer<typeof messageStatus>;

/** One event for one endpoint, as its message log shows it. */
export const webhookMessageSchema = z
  .object({
    id: positiveId,
    // A string to the code, as the store reads it back; the one event the CRM makes is
    // customer.created (customerCreatedEvent), and the document says so.
    eventType: z.string().meta({ const: 'customer.created' }),
    customerId: positiveId,
    status: messageStatus,
    attempts: z.int().min(0),
    lastAttemptAt: timestamp.nullable(),
    lastStatus: z
      .int()
      .nullable()
      .meta({ description: "The subscriber's HTTP status at the last attempt, if it answered." }),
    lastError: z.string().nullable(),
    nextAttemptAt: timestamp.nullable().meta({ description: 'When it is sent next; null once delivered or failed.' }),
  })
  .meta({
    description:
      'One event for one endpoint. Sent as `{ type, timestamp, data }` with the Standard Webhooks headers ' +
      '`webhook-id` (`msg_` + id, the same on every attempt), `webhook-timestamp` and `webhook-signature`; to an ' +
      'endpoint whose batchSize is above 1, within a batch.',
  });
export type WebhookMessage = z.infer<typeof webhookMessageSchema>;

/** An event for every webhook endpoint: its type, and the exact body every attempt to send it carries. */
export interface WebhookEvent {
  eventType: string;
  payload: string;
}
