import { z } from 'zod';
import { customerId, positiveId, timestamp } from './common.js';

const traceId = z
  .string()
  .nullable()
  .meta({ description: 'The trace (OpenTelemetry, 32 hex digits) the step happened in; null outside one.' });

/** How a customer was found: one of the delivery paths, a reconciliation, or a dead letter's replay. */
export const foundVia = z.enum(['webhook', 'longPoll', 'poll', 'reconciliation', 'replay']);
export type FoundVia = z.infer<typeof foundVia>;

export const journeyOutcome = z.enum(['created', 'alreadyThere', 'deadLettered', 'replayed', 'repaired']);

const createdStep = z
  .object({ kind: z.literal('created'), at: timestamp, traceId })
  .meta({ description: 'The CRM made the customer (`at` is its createdAt).' });
const foundStep = z.object({ kind: z.literal('found'), at: timestamp, via: foundVia, traceId }).meta({
  description:
    'The middleware found the customer: by a CRM webhook, a long poll, a plain poll, ' +
    'a reconciliation (missing), or a replay of its dead letter.',
});
const askedStep = z
  .object({
    kind: z.literal('asked'),
    at: timestamp,
    status: z.int().min(100).max(599).nullable(),
    error: z.string().optional(),
    throttledUntil: timestamp
      .optional()
      .meta({ description: 'A 429 or 503 with Retry-After: no request goes to the Inventory before this time.' }),
    traceId,
  })
  .meta({
    description:
      'One HTTP attempt at the Inventory (a retry is a second one): ' +
      'its status, or null and the error when it gave no answer.',
  });
const outcomeStep = z
  .object({
    kind: z.literal('outcome'),
    at: timestamp,
    outcome: journeyOutcome,
    packageId: positiveId.optional(),
    deadLetterId: positiveId.optional(),
    status: z.int().optional().meta({ description: "The Inventory's refusal status, for a dead letter." }),
    traceId,
  })
  .meta({
    description:
      'What came of it: a package created or already there, a dead letter (with the refusal status), ' +
      'a dead letter replayed, a lost package repaired.',
  });

/** The kinds of step, each its own schema: the OpenAPI document names each. */
export const journeyStepSchemas = {
  JourneyStepCreated: createdStep,
  JourneyStepFound: foundStep,
  JourneyStepAsked: askedStep,
  JourneyStepOutcome: outcomeStep,
};

/** A recorded step of a customer's way through the middleware, with the trace it happened in; `at` is ISO 8601. */
export const recordedStepSchema = z.discriminatedUnion('kind', [createdStep, foundStep, askedStep, outcomeStep]);
export type RecordedStep = z.infer<typeof recordedStepSchema>;

type WithoutTrace<T> = T extends unknown ? Omit<T, 'traceId'> : never;
/** A step as it is noted, before it is recorded with its trace. */
export type JourneyStep = WithoutTrace<RecordedStep>;
export type OutcomeStep = Extract<JourneyStep, { kind: 'outcome' }>;

/** A step to record, with the trace it happened in. */
export interface JourneyEntry {
  customerId: number;
  step: JourneyStep;
  traceId?: string | undefined;
}

/** A customer's journey as the API shows it: with a link to its trace in the trace viewer, when TRACE_UI_URL is set. */
export const journeyViewSchema = z.object({
  customerId,
  traceId: z
    .string()
    .nullable()
    .meta({ description: 'The trace of the latest step that has one; null when none has.' }),
  traceUrl: z.string().nullable().meta({
    format: 'uri',
    description:
      'That trace in the trace viewer (TRACE_UI_URL with the trace id); null without TRACE_UI_URL or a trace.',
  }),
  steps: z
    .array(recordedStepSchema)
    .min(1)
    .meta({ description: 'In time order; steps of the same time in the order they happened.' }),
});
export type JourneyView = z.infer<typeof journeyViewSchema>;
