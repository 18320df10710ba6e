import { z } from 'zod';
import { count, customerId, positiveId, timestamp } from './common.js';

/** How many findings a reconciliation keeps to show; the counts cover them all. */
export const KEPT_FINDINGS = 100;

/**
 * One difference a reconciliation found between the CRM and the Inventory: a customer without a
 * package (with what its repair did, when repair is on), a package under another name than its
 * customer's, or a package for a customer the CRM does not have.
 */
export const findingSchema = z
  .object({
    kind: z.enum(['missing', 'mismatched', 'orphaned']),
    customerId,
    customerName: z.string().optional().meta({ description: 'The name the CRM has (missing, mismatched).' }),
    packageId: positiveId
      .optional()
      .meta({ description: "The Inventory's package (mismatched, orphaned; missing once repaired)." }),
    packageCustomerName: z
      .string()
      .optional()
      .meta({ description: 'The name the package was made for (mismatched, orphaned).' }),
    repair: z
      .enum(['created', 'alreadyThere', 'deadLettered'])
      .optional()
      .meta({
        description:
          'What the repair of a missing customer came to; `deadLettered`: ' +
          'the Inventory refused it, see /dead-letters.',
      }),
  })
  .meta({
    description:
      '`missing`: a customer without a package (not one with a dead letter: ' +
      'that is on its own list). `mismatched`: a package under another name than its ' +
      "customer's. `orphaned`: a package for a customer the CRM does not have.",
  });
export type Finding = z.infer<typeof findingSchema>;
export type FindingKind = Finding['kind'];

export const findingCountsSchema = z
  .object({ missing: count, mismatched: count, orphaned: count, repaired: count })
  .meta({ description: 'Every finding so far, by kind, and the missing customers that have their package now.' });
export type FindingCounts = z.infer<typeof findingCountsSchema>;

export const reconciliationStatus = z.enum(['running', 'done', 'failed']);
export type ReconciliationStatus = z.infer<typeof reconciliationStatus>;

/** A walk of the customers `fromId`..`toId` side by side with their packages. */
export interface ReconciliationRange {
  fromId: number;
  toId: number;
  repair: boolean;
  /**
   * No end was asked for: after `toId` (the cursor), the packages of customers beyond it are
   * looked at too, for orphans and mismatches only (those customers are not handled yet).
   */
  openEnded: boolean;
}

/** A reconciliation as the store keeps it. */
export interface Reconciliation extends ReconciliationRange {
  id: number;
  status: ReconciliationStatus;
  /** The last id compared (and repaired): a walk resumed after a restart goes on after it. */
  position: number;
  counts: FindingCounts;
  /** The first KEPT_FINDINGS findings, in id order. */
  findings: Finding[];
  error: string | null;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** What a walk has done since its last save: where it is, its counts so far, and its new findings. */
export interface ReconciliationProgress {
  position: number;
  counts: FindingCounts;
  findings: readonly Finding[];
}

/** How a walk ended. */
export type ReconciliationEnd = { status: 'done' } | { status: 'failed'; error: string };

/** A reconciliation as the API shows it: its position as progress through the range. */
export const reconciliationViewSchema = z.object({
  id: positiveId,
  status: reconciliationStatus,
  fromId: customerId,
  toId: count,
  repair: z.boolean(),
  progress: z
    .object({ checkedUpTo: count, checked: count, total: count })
    .meta({ description: 'Ids checked, up to and including `checkedUpTo`, of the `total` ids from fromId to toId.' }),
  counts: findingCountsSchema,
  findings: z
    .array(findingSchema)
    .max(KEPT_FINDINGS)
    .meta({ description: `The first ${KEPT_FINDINGS} findings, in customer-id order.` }),
  error: z.string().nullable().meta({
    description: 'Why it failed: the upstream that stopped answering. Start another from `progress.checkedUpTo + 1`.',
  }),
  startedAt: timestamp,
  updatedAt: timestamp,
  finishedAt: timestamp.nullable(),
});
export type ReconciliationView = z.infer<typeof reconciliationViewSchema>;
