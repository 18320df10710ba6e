import { createHash } from 'node:crypto';
import type { Delivery } from '../../domain/model/delivery.js';
import type { DeadLetter, NewDeadLetter } from '../../domain/model/dead-letter.js';

/** The dead letters: records that could not be delivered, kept until a replay delivers them. */
export interface DeadLetterStore {
  /**
   * Keeps a record that cannot be delivered, with the reason, and (unless `moveCursor` is false)
   * moves the cursor past its customer in the same commit. The same customer or the same
   * unidentified record again adds an attempt to its letter instead of a second letter.
   */
  record(letter: NewDeadLetter, at: Date, options?: { moveCursor?: boolean }): Promise<DeadLetter>;
  find(id: number): Promise<DeadLetter | undefined>;
  list(after: number, limit: number): Promise<DeadLetter[]>;
  /** A replay delivered it: it leaves the list and counts as delivered. */
  resolve(id: number, delivery: Omit<Delivery, 'at'>, at: Date): Promise<void>;
  /** Which of these customers have a dead letter. */
  deadLetteredAmong(customerIds: readonly number[]): Promise<Set<number>>;
}

export interface DeadLetterRow {
  id: number;
  customer_id: number | null;
  customer: string;
  status: number | null;
  reason: string;
  attempts: number;
  first_failed_at: string;
  last_failed_at: string;
}

export const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  customerId: row.customer_id,
  customer: JSON.parse(row.customer) as unknown,
  status: row.status,
  reason: JSON.parse(row.reason) as unknown,
  attempts: row.attempts,
  firstFailedAt: row.first_failed_at,
  lastFailedAt: row.last_failed_at,
});

/** What makes two letters the same: the customer id, or for a record without one, its content. */
export function letterKey(letter: NewDeadLetter): string {
  if (letter.customerId !== null) return `customer:${letter.customerId}`;
  return `record:${createHash('sha256')
    .update(JSON.stringify(letter.customer) ?? 'undefined')
    .digest('hex')}`;
}

/** A letter's columns as stored: its key, and the customer and the reason as the JSON text they were given. */
export const letterColumns = (letter: NewDeadLetter) => ({
  key: letterKey(letter),
  customer: JSON.stringify(letter.customer) ?? 'null',
  reason: JSON.stringify(letter.reason) ?? 'null',
});
