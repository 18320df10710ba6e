import { groupCommit, migrate, type Db, type StorageGuard } from '@welcome/common';
import { crmSchema } from './schema.js';

export interface WebhookEndpoint {
  id: number;
  url: string;
  secret: string;
  createdAt: string;
}

export type MessageStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookMessage {
  id: number;
  eventType: string;
  customerId: number;
  status: MessageStatus;
  attempts: number;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  /** When the dispatcher sends it next; null once delivered or failed. */
  nextAttemptAt: string | null;
}

/** A message due for sending, with what sending it takes. */
export interface DueMessage {
  id: number;
  payload: string;
  attempts: number;
  endpoint: { id: number; url: string; secret: string };
}

export interface Attempt {
  at: string;
  /** The subscriber's HTTP status, when it answered. */
  status: number | null;
  error: string | null;
  /** `delivered`, or the time of the next attempt, or null when the schedule is spent (failed). */
  outcome: 'delivered' | { retryAt: string | null };
}

export interface WebhookStore {
  createEndpoint(endpoint: Omit<WebhookEndpoint, 'id'>): WebhookEndpoint;
  countEndpoints(): number;
  findEndpoint(id: number): WebhookEndpoint | undefined;
  findEndpointByUrl(url: string, secret: string): WebhookEndpoint | undefined;
  listEndpoints(after: number, limit: number): WebhookEndpoint[];
  /** Deletes the endpoint and its messages; false when there was none. */
  deleteEndpoint(id: number): boolean;
  listMessages(endpointId: number, after: number, limit: number): WebhookMessage[];
  findMessage(endpointId: number, id: number): WebhookMessage | undefined;
  /** Makes a pending or failed message due now; the delivered one is returned unchanged. */
  makeDue(endpointId: number, id: number, at: string): WebhookMessage | undefined;
  /** Up to `limit` pending messages due by `at`, oldest first, but for those in `skip`. */
  due(at: string, limit: number, skip: ReadonlySet<number>): DueMessage[];
  /** When the next pending message falls due, if any is pending. */
  nextDueAt(): string | undefined;
  /** Records how an attempt ended; attempts that end in the same turn share one commit. */
  recordAttempt(id: number, attempt: Attempt): Promise<void>;
  countByStatus(): Record<MessageStatus, number>;
}

interface EndpointRow {
  id: number;
  url: string;
  secret: string;
  created_at: string;
}

interface MessageRow {
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

const toEndpoint = (row: EndpointRow): WebhookEndpoint => ({ id: row.id, url: row.url, secret: row.secret, createdAt: row.created_at });

const toMessage = (row: MessageRow): WebhookMessage => ({
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

const MESSAGE_COLUMNS = 'id, event_type, customer_id, status, attempts, last_attempt_at, last_status, last_error, next_attempt_at';

export function createWebhookStore(db: Db, storage: StorageGuard): WebhookStore {
  migrate(db, crmSchema);
  const insertEndpoint = db.prepare<[string, string, string], EndpointRow>(
    'INSERT INTO webhook_endpoints (url, secret, created_at) VALUES (?, ?, ?) RETURNING *',
  );
  const endpointCount = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM webhook_endpoints');
  const endpointById = db.prepare<[number], EndpointRow>('SELECT * FROM webhook_endpoints WHERE id = ?');
  const endpointByUrl = db.prepare<[string, string], EndpointRow>('SELECT * FROM webhook_endpoints WHERE url = ? AND secret = ? ORDER BY id LIMIT 1');
  const endpointsAfter = db.prepare<[number, number], EndpointRow>('SELECT * FROM webhook_endpoints WHERE id > ? ORDER BY id LIMIT ?');
  const removeEndpoint = db.prepare<[number]>('DELETE FROM webhook_endpoints WHERE id = ?');
  const messagesAfter = db.prepare<[number, number, number], MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM webhook_messages WHERE endpoint_id = ? AND id > ? ORDER BY id LIMIT ?`,
  );
  const messageById = db.prepare<[number, number], MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM webhook_messages WHERE endpoint_id = ? AND id = ?`);
  const dueNow = db.prepare<[string], MessageRow & { payload: string; endpoint_id: number; url: string; secret: string }>(`
    SELECT m.*, e.url, e.secret FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
    WHERE m.status = 'pending' AND m.next_attempt_at <= ? ORDER BY m.next_attempt_at, m.id
  `);
  const earliestDue = db.prepare<[], { at: string | null }>("SELECT MIN(next_attempt_at) AS at FROM webhook_messages WHERE status = 'pending'");
  const due = db.prepare<[string, number, number]>("UPDATE webhook_messages SET status = 'pending', next_attempt_at = ? WHERE endpoint_id = ? AND id = ? AND status <> 'delivered'");
  const attempted = db.prepare<[string, number | null, string | null, string, string | null, number]>(`
    UPDATE webhook_messages SET attempts = attempts + 1, last_attempt_at = ?, last_status = ?, last_error = ?, status = ?, next_attempt_at = ?
    WHERE id = ?
  `);
  const byStatus = db.prepare<[], { status: MessageStatus; n: number }>('SELECT status, COUNT(*) AS n FROM webhook_messages GROUP BY status');

  const write = storage.write;
  const recordAll = db.transaction((batch: Array<{ id: number; attempt: Attempt }>) => {
    for (const { id, attempt } of batch) {
      const status = attempt.outcome === 'delivered' ? 'delivered' : attempt.outcome.retryAt === null ? 'failed' : 'pending';
      const next = attempt.outcome === 'delivered' ? null : attempt.outcome.retryAt;
      attempted.run(attempt.at, attempt.status, attempt.error, status, next, id);
    }
  });
  const recordTogether = groupCommit<{ id: number; attempt: Attempt }>((batch) => write('record webhook attempts', () => recordAll.immediate(batch)));
  return {
    createEndpoint: (endpoint) =>
      write('insert webhook endpoint', () => db.transaction(() => toEndpoint(insertEndpoint.get(endpoint.url, endpoint.secret, endpoint.createdAt)!))()),
    countEndpoints: () => endpointCount.get()!.n,
    findEndpoint(id) {
      const row = endpointById.get(id);
      return row && toEndpoint(row);
    },
    findEndpointByUrl(url, secret) {
      const row = endpointByUrl.get(url, secret);
      return row && toEndpoint(row);
    },
    listEndpoints: (after, limit) => endpointsAfter.all(after, limit).map(toEndpoint),
    deleteEndpoint: (id) => write('delete webhook endpoint', () => removeEndpoint.run(id).changes > 0),
    listMessages: (endpointId, after, limit) => messagesAfter.all(endpointId, after, limit).map(toMessage),
    findMessage(endpointId, id) {
      const row = messageById.get(endpointId, id);
      return row && toMessage(row);
    },
    makeDue(endpointId, id, at) {
      write('retry webhook message', () => due.run(at, endpointId, id));
      const row = messageById.get(endpointId, id);
      return row && toMessage(row);
    },
    due(at, limit, skip) {
      const found: DueMessage[] = [];
      for (const row of dueNow.iterate(at)) {
        if (skip.has(row.id)) continue;
        found.push({ id: row.id, payload: row.payload, attempts: row.attempts, endpoint: { id: row.endpoint_id, url: row.url, secret: row.secret } });
        if (found.length >= limit) break;
      }
      return found;
    },
    nextDueAt: () => earliestDue.get()?.at ?? undefined,
    recordAttempt: (id, attempt) => recordTogether({ id, attempt }),
    countByStatus() {
      const counts: Record<MessageStatus, number> = { pending: 0, delivered: 0, failed: 0 };
      for (const row of byStatus.all()) counts[row.status] = row.n;
      return counts;
    },
  };
}
