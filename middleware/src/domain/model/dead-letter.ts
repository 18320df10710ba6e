import { z } from 'zod';
import { count, positiveId, timestamp } from './common.js';

/** A record that could not be delivered, kept with why. */
export const deadLetterSchema = z.object({
  id: positiveId,
  customerId: z.int().nullable().meta({ description: 'Null for a CRM record without a usable id.' }),
  customer: z.unknown().meta({
    description:
      'What could not be delivered: for an Inventory refusal, the customer as the middleware asked for it ' +
      '(`{ id, name }`); for an unusable CRM record, the record as the CRM sent it.',
  }),
  status: z
    .int()
    .nullable()
    .meta({ description: "The Inventory's status code; null when the CRM record itself was unusable." }),
  reason: z.unknown().meta({ description: "The Inventory's answer, or what was wrong with the record." }),
  attempts: z.int().min(1),
  firstFailedAt: timestamp,
  lastFailedAt: timestamp,
});
export type DeadLetter = z.infer<typeof deadLetterSchema>;

export type NewDeadLetter = Pick<DeadLetter, 'customerId' | 'customer' | 'status' | 'reason'>;

/** A replay: delivered (the letter leaves the list), or refused again (the attempt counted). */
export const replayResultSchema = z.union([
  z.object({
    id: z.int(),
    customerId: z.int(),
    outcome: z.enum(['created', 'alreadyThere']),
    packageId: z.int(),
  }),
  z.object({
    id: z.int(),
    customerId: z.int().nullable(),
    outcome: z.literal('stillRefused'),
    deadLetter: deadLetterSchema,
  }),
]);
export type ReplayResult = z.infer<typeof replayResultSchema>;

/** What a replay of every dead letter came to. */
export const replayAllReportSchema = z.object({
  delivered: count,
  stillRefused: count,
  notTried: count.meta({ description: 'Letters left as they were because an upstream stopped answering.' }),
  stoppedBy: z.string().optional().meta({ description: 'The upstream failure that ended the run early.' }),
  results: z.array(replayResultSchema),
});
export type ReplayAllReport = z.infer<typeof replayAllReportSchema>;
