import { z } from 'zod';
import { count, customerId, positiveId, timestamp } from './common.js';

/** How a customer reached the middleware: a CRM webhook, a long poll, or a plain poll. */
export const deliveryPaths = ['webhook', 'longPoll', 'poll'] as const;
export type DeliveryPath = (typeof deliveryPaths)[number];

/** Why the Inventory is asked for a customer: a path brought it, or a reconciliation found its package missing. */
export type AskedBy = DeliveryPath | 'reconciliation';

/** What the Inventory's answer confirmed: a package made now, or one it had already. */
export const delivered = z.enum(['created', 'alreadyThere']);
export type Delivered = z.infer<typeof delivered>;

/** A package confirmed, as /status lists the latest ones. */
export const deliverySchema = z.object({
  customerId,
  customerName: z.string(),
  packageId: positiveId,
  outcome: delivered,
  at: timestamp,
});
export type Delivery = z.infer<typeof deliverySchema>;

/** Packages confirmed, by the path that carried the customer. */
export const deliveriesByPathSchema = z.object({ webhook: count, longPoll: count, poll: count }).meta({
  description: 'Packages confirmed, by how the customer arrived: a CRM webhook, a long poll, or a plain poll.',
});

/** What the middleware already knows of a customer, so that nobody asks the Inventory twice. */
export type KnownCustomer =
  | { state: 'behindCursor' }
  | { state: 'confirmed'; packageId: number; outcome: Delivered }
  | { state: 'deadLettered'; deadLetterId: number };

/**
 * The answer to a claim: this replica may ask the Inventory for the customer now; or the customer
 * is handled already; or another replica holds it until its lease ends.
 */
export type Claim = { state: 'claimed' } | KnownCustomer | { state: 'claimedElsewhere'; owner: string; until: string };

/**
 * What became of one customer. `refused` is the Inventory's permanent refusal where there is no
 * dead-letter table to keep it (the Lambda handler); `handledBefore` a customer the cursor had
 * already passed, whose package was confirmed or dead-lettered long ago.
 */
export interface DeliveryResult {
  customerId: number;
  outcome: Delivered | 'deadLettered' | 'refused' | 'handledBefore';
  packageId?: number;
  deadLetterId?: number;
  /** The Inventory's refusal: its status and answer. */
  status?: number;
  answer?: unknown;
  /** True when this call asked the Inventory nothing: the customer was known, or in flight already. */
  repeat?: boolean;
}
