import type { Claim, Delivery, DeliveryPath, KnownCustomer } from '../../domain/model/delivery.js';

/** What the claims, the confirmations and the cursor's walk ask: replaying and delivering hold apart. */
export type ClaimPurpose = 'delivery' | 'replay';

/**
 * The cursor, the packages confirmed ahead of it and the claims of the customers being asked for:
 * on SQLite for one process, on PostgreSQL shared by any number of replicas.
 */
export interface DeliveryStore {
  /** The id of the last customer handled (delivered or dead-lettered); 0 before the first. */
  cursor(): Promise<number>;
  /**
   * Group commit: the confirmations asked for together are written in one transaction, each
   * promise settling once it is committed. The cursor moves over the run of confirmed customers
   * right after it. A confirmation without a path (a reconciliation's repair) counts in no path's column.
   */
  confirm(delivery: Omit<Delivery, 'at'>, at: Date, path?: DeliveryPath): Promise<void>;
  /**
   * Moves the cursor past a customer handled before (by a webhook, say), and on over the run of
   * handled customers right after it: never backwards.
   */
  advanceCursor(customerId: number): Promise<void>;
  /**
   * Takes the customer for `owner` until `at` + `leaseMs`, unless it is handled already or another
   * owner's lease still runs. A `replay` claim is one to ask again for a customer handled already
   * (to replay its dead letter, or to repair the package a reconciliation found missing): handled
   * or not, and held apart from the claims to deliver it, so such asks take turns among themselves only.
   */
  claim(customerId: number, owner: string, at: Date, leaseMs: number, purpose?: ClaimPurpose): Promise<Claim>;
  /** As `claim` (to deliver) for several customers in one go, the answers in the same order: the poller's next ones. */
  claimAll(customerIds: readonly number[], owner: string, at: Date, leaseMs: number): Promise<Claim[]>;
  /** Gives the customer back before the lease ends: the Inventory gave no answer, or the replay is over. */
  release(customerId: number, owner: string, purpose?: ClaimPurpose): Promise<void>;
  /** Which of these customers are handled by now (confirmed, dead-lettered or behind the cursor), by anyone. */
  handledAmong(customerIds: readonly number[]): Promise<Set<number>>;
}

/** A package confirmed, to be recorded: by the path that brought its customer, none for a replay or a repair. */
export interface Confirmation {
  delivery: Omit<Delivery, 'at'>;
  at: string;
  path?: DeliveryPath | undefined;
}

/** How many of the latest deliveries are kept for /status and the status page. */
export const RECENT_DELIVERIES = 20;

/** What a batch of confirmations adds to the counters: created or already there, and by which path. */
export function countsOf(batch: readonly Confirmation[]) {
  const created = batch.filter(({ delivery }) => delivery.outcome === 'created').length;
  const byPath = (path: DeliveryPath) => batch.filter((confirmation) => confirmation.path === path).length;
  return {
    created,
    alreadyThere: batch.length - created,
    webhook: byPath('webhook'),
    longPoll: byPath('longPoll'),
    poll: byPath('poll'),
  };
}

/** What is known of one customer, read together: the cursor, its confirmation, its dead letter. */
export interface KnowledgeRow {
  cursor: number;
  package_id: number | null;
  outcome: Delivery['outcome'] | null;
  dead_letter_id: number | null;
}

export function toKnown(customerId: number, row: KnowledgeRow): KnownCustomer | undefined {
  if (customerId <= row.cursor) return { state: 'behindCursor' };
  if (row.package_id !== null && row.outcome !== null)
    return { state: 'confirmed', packageId: row.package_id, outcome: row.outcome };
  return row.dead_letter_id !== null ? { state: 'deadLettered', deadLetterId: row.dead_letter_id } : undefined;
}
