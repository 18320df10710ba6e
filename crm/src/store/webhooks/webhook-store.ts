import type { MessageStatus, NewEndpoint, WebhookEndpoint, WebhookMessage } from '../../domain/model.js';

/** A message claimed for sending, with what sending it takes. */
export interface DueMessage {
  id: number;
  payload: string;
  attempts: number;
  endpoint: { id: number; url: string; secret: string; batchSize: number; failingSince: string | null };
}

export interface Attempt {
  at: string;
  /** The subscriber's HTTP status, when it answered. */
  status: number | null;
  error: string | null;
  /**
   * `delivered`, or the time of the next attempt, or null when the schedule is spent (failed); or
   * the endpoint asked to wait (429 or 503 with Retry-After): not counted against the schedule, and
   * the next attempt at `throttledUntil`.
   */
  outcome: 'delivered' | { retryAt: string | null } | { throttledUntil: string };
}

/** How one request went, for its endpoint: a 2xx, a failure, or a Retry-After until a time. */
export type EndpointAttempt = 'delivered' | 'failed' | { throttledUntil: string };

export interface WebhookStore {
  /** Stores the endpoint, unless `limit` endpoints exist already (counted in the same transaction): undefined then. */
  createEndpoint(endpoint: NewEndpoint, limit: number): Promise<WebhookEndpoint | undefined>;
  /**
   * The oldest endpoint with this url and secret (given this batch size), stored first when there
   * is none; one transaction, so that replicas starting together make one. Undefined when none is
   * there and `limit` endpoints exist already.
   */
  findOrCreateEndpoint(
    endpoint: NewEndpoint,
    limit: number,
  ): Promise<{ endpoint: WebhookEndpoint; created: boolean } | undefined>;
  findEndpoint(id: number): Promise<WebhookEndpoint | undefined>;
  listEndpoints(after: number, limit: number): Promise<WebhookEndpoint[]>;
  /** Deletes the endpoint and its messages; false when there was none. */
  deleteEndpoint(id: number): Promise<boolean>;
  listMessages(endpointId: number, after: number, limit: number): Promise<WebhookMessage[]>;
  findMessage(endpointId: number, id: number): Promise<WebhookMessage | undefined>;
  /**
   * Makes a pending or failed message due at `at`; the delivered one is returned unchanged. A
   * message being sent keeps its lease: it is not sent twice at once, and the attempt under way
   * decides what comes next.
   */
  makeDue(endpointId: number, id: number, at: string): Promise<WebhookMessage | undefined>;
  /**
   * Up to `requests` requests' worth of pending messages due by `at` and leased to nobody, oldest
   * first (see batchesOf), leased until `leaseUntil` to the caller: no other claim (on any replica)
   * takes them before the lease ends or their attempt is recorded.
   */
  claimDue(at: string, requests: number, leaseUntil: string): Promise<DueMessage[][]>;
  /** When a pending message can next be claimed (its due time, or the end of its lease), if any is pending. */
  nextDueAt(): Promise<string | undefined>;
  /** Records how an attempt ended and ends its lease; attempts that end together share one commit. */
  recordAttempt(id: number, attempt: Attempt): Promise<void>;
  /**
   * Records how a request to the endpoint went: a 2xx ends its run of failures; a failure starts one
   * (or goes on with it); a Retry-After holds every message of the endpoint, on every replica,
   * until then (also a failure, for the run). Tells since when every attempt has failed; null after a 2xx.
   */
  recordEndpointAttempt(
    endpointId: number,
    at: string,
    attempt: EndpointAttempt,
  ): Promise<{ failingSince: string | null }>;
  /**
   * Disables the endpoint: its messages are kept, and none is sent until it is enabled again.
   * False when it was disabled already, or is gone.
   */
  disableEndpoint(endpointId: number, at: string, reason: string): Promise<boolean>;
  /**
   * Enables a disabled endpoint: every message of it that is pending or failed is due at `at`, its
   * schedule started over. Undefined for no such endpoint.
   */
  enableEndpoint(endpointId: number, at: string): Promise<WebhookEndpoint | undefined>;
  countByStatus(): Promise<Record<MessageStatus, number>>;
  /**
   * Deletes up to `limit` delivered or failed messages whose last attempt was before `before`,
   * oldest first; tells how many.
   */
  pruneMessages(before: string, limit: number): Promise<number>;
}

export interface EndpointRow {
  id: number;
  url: string;
  secret: string;
  batch_size: number;
  created_at: string;
  throttled_until: string | null;
  failing_since: string | null;
  disabled_at: string | null;
  disabled_reason: string | null;
}

export const ENDPOINT_COLUMNS =
  'id, url, secret, batch_size, created_at, throttled_until, failing_since, disabled_at, disabled_reason';

export interface MessageRow {
  id: number;
  event_type: string;
  customer_id: number;
  status: MessageStatus;
  attempts: number;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
}

export interface DueRow {
  id: number;
  payload: string;
  payload_bytes: number;
  attempts: number;
  endpoint_id: number;
  url: string;
  secret: string;
  batch_size: number;
  failing_since: string | null;
}

export const toEndpoint = (row: EndpointRow): WebhookEndpoint => ({
  id: row.id,
  url: row.url,
  secret: row.secret,
  batchSize: row.batch_size,
  createdAt: row.created_at,
  enabled: row.disabled_at === null,
  disabledAt: row.disabled_at,
  disabledReason: row.disabled_reason,
  throttledUntil: row.throttled_until,
  failingSince: row.failing_since,
});

export const toMessage = (row: MessageRow): WebhookMessage => ({
  id: row.id,
  eventType: row.event_type,
  customerId: row.customer_id,
  status: row.status,
  attempts: row.attempts,
  lastAttemptAt: row.last_attempt_at,
  lastStatus: row.last_status,
  lastError: row.last_error,
  nextAttemptAt: row.next_attempt_at,
});

export const toDueMessage = (row: DueRow): DueMessage => ({
  id: row.id,
  payload: row.payload,
  attempts: row.attempts,
  endpoint: {
    id: row.endpoint_id,
    url: row.url,
    secret: row.secret,
    batchSize: row.batch_size,
    failingSince: row.failing_since,
  },
});

/**
 * The most payload bytes one request carries: with the ids added, a batch stays under the 64 KiB a
 * receiver such as the middleware takes in one body.
 */
export const MAX_BATCH_BYTES = 60 * 1024;

/**
 * Groups due messages (oldest first) into at most `requests` requests: each endpoint's messages in
 * the order they came, up to its batch size and MAX_BATCH_BYTES of payload a request. A message
 * that fits in none is left for a later claim.
 */
export function batchesOf<T extends { endpoint_id: number; batch_size: number; payload_bytes: number }>(
  rows: readonly T[],
  requests: number,
): T[][] {
  const batches: T[][] = [];
  const open = new Map<number, { rows: T[]; bytes: number }>();
  for (const row of rows) {
    let batch = open.get(row.endpoint_id);
    if (!batch || batch.rows.length >= row.batch_size || batch.bytes + row.payload_bytes > MAX_BATCH_BYTES) {
      if (batches.length >= requests) continue;
      batch = { rows: [], bytes: 0 };
      batches.push(batch.rows);
      open.set(row.endpoint_id, batch);
    }
    batch.rows.push(row);
    batch.bytes += row.payload_bytes;
  }
  return batches;
}

export const MESSAGE_COLUMNS =
  'id, event_type, customer_id, status, attempts, last_attempt_at, last_status, last_error, next_attempt_at';

/** How an attempt leaves its message: its status, and when it is due again. */
export function afterAttempt(attempt: Attempt): {
  status: MessageStatus;
  nextAttemptAt: string | null;
  counted: boolean;
} {
  const { outcome } = attempt;
  if (outcome === 'delivered') return { status: 'delivered', nextAttemptAt: null, counted: true };
  if ('throttledUntil' in outcome) return { status: 'pending', nextAttemptAt: outcome.throttledUntil, counted: false };
  return { status: outcome.retryAt === null ? 'failed' : 'pending', nextAttemptAt: outcome.retryAt, counted: true };
}

/** The earlier of two times that may be missing (ISO 8601 strings compare as their times do). */
export function earliest(a: string | null | undefined, b: string | null | undefined): string | undefined {
  if (a == null) return b ?? undefined;
  if (b == null) return a;
  return a < b ? a : b;
}
