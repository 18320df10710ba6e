import { json, notFoundAnswer, problem, storageProblems } from '@welcome/common';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** The CRM's webhook in the middleware's OpenAPI document: the signed events it takes, and its answers. */
export const webhookPaths = {
  '/webhooks/crm': {
    post: {
      tags: ['push'],
      summary: "The CRM's webhook (Standard Webhooks): a customer.created event becomes a welcome package at once",
      description:
        'Present only when CRM_WEBHOOK_SECRET is set (otherwise 404). The signature is checked over the raw ' +
        'body with the `standardwebhooks` package: `webhook-signature` is `v1,` and base64 HMAC-SHA256 of ' +
        '`webhook-id.webhook-timestamp.body`, and the timestamp may be at most five minutes off. ' +
        'The customer goes through the same delivery code as the poller; ' +
        'the poller later moves its cursor past it without asking the Inventory again.',
      operationId: 'receiveCrmWebhook',
      parameters: [
        {
          name: 'webhook-id',
          in: 'header',
          required: true,
          schema: { type: 'string' },
          description: 'The message id, the same on every attempt.',
        },
        {
          name: 'webhook-timestamp',
          in: 'header',
          required: true,
          schema: { type: 'string', pattern: '^\\d+$' },
          description: 'Unix seconds of this attempt.',
        },
        {
          name: 'webhook-signature',
          in: 'header',
          required: true,
          schema: { type: 'string' },
          description: 'Space-separated `v1,<base64>` signatures.',
        },
      ],
      requestBody: { required: true, content: { 'application/json': { schema: ref('CrmWebhook') } } },
      responses: {
        '200': json(
          'Delivered, known already, dead-lettered, or an event type that is ignored ' +
            '(for a batch: every event, in order)',
          { oneOf: [ref('WebhookOutcome'), ref('WebhookBatchOutcome')] },
        ),
        '202': json(
          'Taken while delivery is paused (POST /delivery/pause): the customer waits (`pending`) and the ' +
            'poller delivers it once resumed (for a batch: when every event is pending)',
          { oneOf: [ref('WebhookOutcome'), ref('WebhookBatchOutcome')] },
        ),
        '401': problem('Unsigned, wrongly signed, tampered with or stale: nothing was done.', 'invalid-signature'),
        '404': notFoundAnswer('The receiver is off: CRM_WEBHOOK_SECRET is not set.'),
        '413': problem('The body is larger than 64 KiB.', 'body-too-large'),
        '503': {
          ...problem(
            'The Inventory is unavailable, asked to be left alone (its own Retry-After), or the circuit ' +
              'breaker toward it is open: send the event again later (Retry-After says when). ' +
              "For a batch: some of its events found it so; `results` has each event's answer, " +
              'and those handled are not asked for again when the batch comes back.',
            'upstream-unavailable',
          ),
          headers: {
            'Retry-After': {
              description: 'Seconds to wait.',
              required: true,
              schema: { type: 'integer', minimum: 1 },
            },
          },
        },
        '507': storageProblems['507'],
      },
    },
  },
};
