import { z } from 'zod';
import { positiveId } from './common.js';

/** What became of one CRM event, as the webhook route answers it (one per event of a batch). */
export const webhookOutcomeSchema = z
  .object({
    webhookId: z.string(),
    customerId: z.int().nullable().optional(),
    outcome: z.enum(['created', 'alreadyThere', 'deadLettered', 'handledBefore', 'ignored', 'pending']),
    held: z
      .literal('paused')
      .optional()
      .meta({ description: 'Why the customer waits (`pending`): delivery is paused; the poller delivers it later.' }),
    packageId: positiveId.optional(),
    deadLetterId: positiveId.optional(),
    status: z
      .int()
      .optional()
      .meta({ description: "The Inventory's refusal status, for a customer dead-lettered now." }),
    answer: z.unknown().optional().meta({ description: "The Inventory's refusal, for a customer dead-lettered now." }),
    type: z.unknown().optional().meta({ description: 'The event type, when it was ignored.' }),
    repeat: z.boolean().optional(),
  })
  .meta({
    description:
      'What became of the event. `repeat` is true when the Inventory was not asked: ' +
      'the customer was known (the same webhook-id again, or delivered by the poller) ' +
      'or already in flight. `handledBefore`: the cursor had passed the customer long ago. ' +
      '`pending`: taken while delivery is paused; the poller delivers it once resumed.',
  });
export type WebhookOutcome = z.infer<typeof webhookOutcomeSchema>;

/** The answer to a batch: each event's outcome, in order. */
export const webhookBatchOutcomeSchema = z.object({
  webhookId: z.string(),
  results: z.array(webhookOutcomeSchema),
});

/** One CRM event, as Standard Webhooks delivers it: what the receiver reads of it. */
export const crmEventSchema = z.object({
  type: z.string().meta({ examples: ['customer.created'] }),
  timestamp: z.string().meta({ format: 'date-time' }),
  data: z
    .object({})
    .loose()
    .meta({ description: 'The customer, as the CRM has it: `{ id, name, email, createdAt }`.' }),
});

/** A request to the receiver: one event, or a batch from an endpoint whose batchSize is above 1. */
export const crmWebhookBodySchema = z.union([
  crmEventSchema,
  z.array(crmEventSchema.extend({ id: z.string().meta({ examples: ['msg_12'] }) })).meta({
    description:
      'A batch, from an endpoint whose batchSize is above 1: the events, each with its own webhook-id as `id`.',
  }),
]);
