import type { JourneyEntry, RecordedStep } from '../../domain/model/journey.js';

/** Each customer's steps through the middleware, read by customer and pruned by time. */
export interface JourneyStore {
  /** Writes the steps in one statement, in the order given. */
  record(entries: readonly JourneyEntry[]): Promise<void>;
  /**
   * The customer's steps in time order, those of the same time in the order they were recorded;
   * none for a customer never seen.
   */
  stepsOf(customerId: number): Promise<RecordedStep[]>;
  /** Deletes up to `limit` steps older than `before` (oldest first), and says how many it deleted. */
  prune(before: string, limit: number): Promise<number>;
}

export interface JourneyStepRow {
  kind: RecordedStep['kind'];
  at: string;
  detail: string;
  trace_id: string | null;
}

/** A step as stored: its kind and time in their own columns, the rest as JSON text. */
export function journeyRow(
  entry: JourneyEntry,
): [customerId: number, at: string, kind: string, detail: string, traceId: string | null] {
  const { kind, at, ...detail } = entry.step;
  return [entry.customerId, at, kind, JSON.stringify(detail), entry.traceId ?? null];
}

export const toRecordedStep = (row: JourneyStepRow): RecordedStep =>
  ({ kind: row.kind, at: row.at, ...(JSON.parse(row.detail) as object), traceId: row.trace_id }) as RecordedStep;
