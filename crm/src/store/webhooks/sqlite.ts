import { commitWithoutSync, groupCommit, type Db, type StorageGuard } from '@welcome/common';
import type { MessageStatus, NewEndpoint } from '../../domain/model.js';
import {
  afterAttempt,
  batchesOf,
  earliest,
  MESSAGE_COLUMNS,
  toDueMessage,
  toEndpoint,
  toMessage,
  type Attempt,
  type DueRow,
  type EndpointAttempt,
  type EndpointRow,
  type MessageRow,
  type WebhookStore,
} from './webhook-store.js';

const DUE_PENDING = `
    SELECT m.id, m.payload, length(CAST(m.payload AS BLOB)) AS payload_bytes, m.attempts, m.endpoint_id,
      e.url, e.secret, e.batch_size, e.failing_since
    FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
    WHERE m.status = 'pending' AND m.next_attempt_at <= :at
      AND e.disabled_at IS NULL AND (e.throttled_until IS NULL OR e.throttled_until <= :at)
    ORDER BY m.next_attempt_at, m.id LIMIT :limit
  `;

// Made due now, or when its endpoint's Retry-After ends if that is later.
const MAKE_DUE = `
    UPDATE webhook_messages SET status = 'pending', next_attempt_at = MAX(@at, COALESCE(
      (SELECT throttled_until FROM webhook_endpoints e WHERE e.id = webhook_messages.endpoint_id), ''))
    WHERE endpoint_id = @endpointId AND id = @id AND status <> 'delivered'
  `;

// A message of a disabled endpoint keeps no next attempt; one of a throttled endpoint waits for its Retry-After.
const RECORD_ATTEMPT = `
    UPDATE webhook_messages SET
      attempts = attempts + @counted, last_attempt_at = @at, last_status = @status, last_error = @error,
      status = @outcome,
      next_attempt_at = (SELECT CASE WHEN @next IS NULL OR e.disabled_at IS NOT NULL THEN NULL
                                     ELSE MAX(@next, COALESCE(e.throttled_until, '')) END
                         FROM webhook_endpoints e WHERE e.id = webhook_messages.endpoint_id)
    WHERE id = @id
  `;

/** One attempt as RECORD_ATTEMPT writes it. */
interface AttemptRow {
  counted: number;
  at: string;
  status: number | null;
  error: string | null;
  outcome: string;
  next: string | null;
  id: number;
}

/** The store's statements, prepared once. */
function prepareStatements(db: Db) {
  const insertEndpoint = db.prepare<[string, string, number, string], EndpointRow>(
    'INSERT INTO webhook_endpoints (url, secret, batch_size, created_at) VALUES (?, ?, ?, ?) RETURNING *',
  );
  const setBatchSize = db.prepare<[number, number], EndpointRow>(
    'UPDATE webhook_endpoints SET batch_size = ? WHERE id = ? RETURNING *',
  );
  const endpointCount = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM webhook_endpoints');
  const endpointById = db.prepare<[number], EndpointRow>('SELECT * FROM webhook_endpoints WHERE id = ?');
  const endpointByUrl = db.prepare<[string, string], EndpointRow>(
    'SELECT * FROM webhook_endpoints WHERE url = ? AND secret = ? ORDER BY id LIMIT 1',
  );
  const endpointsAfter = db.prepare<[number, number], EndpointRow>(
    'SELECT * FROM webhook_endpoints WHERE id > ? ORDER BY id LIMIT ?',
  );
  const removeEndpoint = db.prepare<[number]>('DELETE FROM webhook_endpoints WHERE id = ?');
  const messagesAfter = db.prepare<[number, number, number], MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM webhook_messages WHERE endpoint_id = ? AND id > ? ORDER BY id LIMIT ?`,
  );
  const messageById = db.prepare<[number, number], MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM webhook_messages WHERE endpoint_id = ? AND id = ?`,
  );
  const largestBatch = db.prepare<[], { n: number }>('SELECT COALESCE(MAX(batch_size), 1) AS n FROM webhook_endpoints');
  const duePending = db.prepare<{ at: string; limit: number }, DueRow>(DUE_PENDING);
  const firstPending = db.prepare<[number], { id: number; next_attempt_at: string }>(
    "SELECT id, next_attempt_at FROM webhook_messages WHERE status = 'pending' AND next_attempt_at IS NOT NULL " +
      'ORDER BY next_attempt_at, id LIMIT ?',
  );
  const due = db.prepare<{ at: string; endpointId: number; id: number }>(MAKE_DUE);
  const attempted = db.prepare<AttemptRow>(RECORD_ATTEMPT);
  const prune = db.prepare<[string, number]>(`
    DELETE FROM webhook_messages WHERE id IN (
      SELECT id FROM webhook_messages WHERE status IN ('delivered', 'failed') AND last_attempt_at < ?
      ORDER BY id LIMIT ?
    )
  `);
  const byStatus = db.prepare<[], { status: MessageStatus; n: number }>(
    'SELECT status, COUNT(*) AS n FROM webhook_messages GROUP BY status',
  );

  return {
    insertEndpoint,
    setBatchSize,
    endpointCount,
    endpointById,
    endpointByUrl,
    endpointsAfter,
    removeEndpoint,
    messagesAfter,
    messageById,
    largestBatch,
    duePending,
    firstPending,
    due,
    attempted,
    prune,
    byStatus,
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** Endpoints are made in transactions of their own, in which the limit is counted. */
function endpointTransactions(db: Db, sql: Statements) {
  const createWithin = (endpoint: NewEndpoint, limit: number) =>
    sql.endpointCount.get()!.n >= limit
      ? undefined
      : toEndpoint(sql.insertEndpoint.get(endpoint.url, endpoint.secret, endpoint.batchSize, endpoint.createdAt)!);
  return {
    createEndpoint: db.transaction(createWithin),
    findOrCreateEndpoint: db.transaction((endpoint: NewEndpoint, limit: number) => {
      const existing = sql.endpointByUrl.get(endpoint.url, endpoint.secret);
      if (existing) {
        const kept =
          existing.batch_size === endpoint.batchSize
            ? existing
            : sql.setBatchSize.get(endpoint.batchSize, existing.id)!;
        return { endpoint: toEndpoint(kept), created: false };
      }
      const created = createWithin(endpoint, limit);
      return created && { endpoint: created, created: true };
    }),
  };
}

/** The endpoint's manners: its runs of failures, its Retry-After, and whether it is disabled. */
function sqliteEndpointManners(
  db: Db,
  storage: StorageGuard,
): Pick<WebhookStore, 'recordEndpointAttempt' | 'disableEndpoint' | 'enableEndpoint'> {
  const endpointFailing = db.prepare<[string, number], { failing_since: string | null }>(
    'UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?) WHERE id = ? RETURNING failing_since',
  );
  const endpointDelivered = db.prepare<[number]>('UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?');
  const endpointThrottled = db.prepare<[string, number]>(
    "UPDATE webhook_endpoints SET throttled_until = MAX(COALESCE(throttled_until, ''), ?) WHERE id = ?",
  );
  const holdPending = db.prepare<[string, number]>(
    'UPDATE webhook_messages SET next_attempt_at = MAX(next_attempt_at, ?) ' +
      "WHERE endpoint_id = ? AND status = 'pending' AND next_attempt_at IS NOT NULL",
  );
  const disable = db.prepare<[string, string, number]>(
    'UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at IS NULL',
  );
  const keepPending = db.prepare<[number]>(
    "UPDATE webhook_messages SET next_attempt_at = NULL WHERE endpoint_id = ? AND status = 'pending'",
  );
  const enable = db.prepare<[number], EndpointRow>(
    'UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL WHERE id = ? ' +
      'RETURNING *',
  );
  const resend = db.prepare<[string, number]>(
    "UPDATE webhook_messages SET status = 'pending', attempts = 0, next_attempt_at = ? " +
      "WHERE endpoint_id = ? AND status IN ('pending', 'failed')",
  );
  const m = {
    endpointFailing,
    endpointDelivered,
    endpointThrottled,
    holdPending,
    disable,
    keepPending,
    enable,
    resend,
  };
  const endpointAttempt = db.transaction((endpointId: number, at: string, attempt: EndpointAttempt) => {
    if (attempt === 'delivered') {
      m.endpointDelivered.run(endpointId);
      return { failingSince: null };
    }
    if (attempt !== 'failed') {
      m.endpointThrottled.run(attempt.throttledUntil, endpointId);
      m.holdPending.run(attempt.throttledUntil, endpointId);
    }
    return { failingSince: m.endpointFailing.get(at, endpointId)?.failing_since ?? null };
  });
  const disableEndpoint = db.transaction((endpointId: number, at: string, reason: string) => {
    if (m.disable.run(at, reason, endpointId).changes === 0) return false;
    m.keepPending.run(endpointId);
    return true;
  });
  const enableEndpoint = db.transaction((endpointId: number, at: string) => {
    const row = m.enable.get(endpointId);
    if (!row) return undefined;
    m.resend.run(at, endpointId);
    return toEndpoint(row);
  });
  return {
    recordEndpointAttempt: async (endpointId, at, attempt) =>
      storage.write('record an endpoint attempt', () => endpointAttempt.immediate(endpointId, at, attempt)),
    disableEndpoint: async (endpointId, at, reason) =>
      storage.write('disable webhook endpoint', () => disableEndpoint.immediate(endpointId, at, reason)),
    enableEndpoint: async (endpointId, at) =>
      storage.write('enable webhook endpoint', () => enableEndpoint.immediate(endpointId, at)),
  };
}

/** Webhook endpoints and the outbox in the CRM's SQLite file. */
export function createSqliteWebhookStore(db: Db, storage: StorageGuard): WebhookStore {
  const sql = prepareStatements(db);
  const { createEndpoint, findOrCreateEndpoint } = endpointTransactions(db, sql);
  const write = storage.write;
  // One process owns the file, so a lease need not be written: it is held here, and a claim costs
  // no commit (no sync to disk) per message sent. A restart forgets them, and sends what is due.
  const leases = new Map<number, string>();
  const leased = (id: number, at: string) => {
    const until = leases.get(id);
    return until !== undefined && until > at;
  };
  const recordAll = db.transaction((batch: Array<{ id: number; attempt: Attempt }>) => {
    for (const { id, attempt } of batch) {
      const { status, nextAttemptAt, counted } = afterAttempt(attempt);
      const { at, error } = attempt;
      sql.attempted.run({
        counted: counted ? 1 : 0,
        at,
        status: attempt.status,
        error,
        outcome: status,
        next: nextAttemptAt,
        id,
      });
    }
  });
  const recordTogether = groupCommit<{ id: number; attempt: Attempt }>((batch) => {
    write('record webhook attempts', () => commitWithoutSync(db, () => recordAll.immediate(batch)));
    for (const { id } of batch) leases.delete(id);
  });

  return {
    createEndpoint: async (endpoint, limit) =>
      write('insert webhook endpoint', () => createEndpoint.immediate(endpoint, limit)),
    findOrCreateEndpoint: async (endpoint, limit) =>
      write('insert webhook endpoint', () => findOrCreateEndpoint.immediate(endpoint, limit)),
    async findEndpoint(id) {
      const row = sql.endpointById.get(id);
      return row && toEndpoint(row);
    },
    listEndpoints: async (after, limit) => sql.endpointsAfter.all(after, limit).map(toEndpoint),
    deleteEndpoint: async (id) => write('delete webhook endpoint', () => sql.removeEndpoint.run(id).changes > 0),
    listMessages: async (endpointId, after, limit) => sql.messagesAfter.all(endpointId, after, limit).map(toMessage),
    async findMessage(endpointId, id) {
      const row = sql.messageById.get(endpointId, id);
      return row && toMessage(row);
    },
    async makeDue(endpointId, id, at) {
      write('retry webhook message', () => sql.due.run({ at, endpointId, id }));
      const row = sql.messageById.get(endpointId, id);
      return row && toMessage(row);
    },
    async claimDue(at, requests, leaseUntil) {
      // The messages leased now are among the first due: asking for as many more skips them.
      const free = sql.duePending
        .all({ at, limit: requests * sql.largestBatch.get()!.n + leases.size })
        .filter((row) => !leased(row.id, at));
      const batches = batchesOf(free, requests);
      for (const batch of batches) for (const row of batch) leases.set(row.id, leaseUntil);
      return batches.map((batch) => batch.map(toDueMessage));
    },
    async nextDueAt() {
      // In due order, each message is claimable at its due time or the end of its lease, whichever is
      // later; past the first that no lease holds, none is claimable sooner.
      let next: string | undefined;
      for (const row of sql.firstPending.all(leases.size + 1)) {
        const until = leases.get(row.id);
        next = earliest(next, until !== undefined && until > row.next_attempt_at ? until : row.next_attempt_at);
        if (until === undefined) break;
      }
      return next;
    },
    recordAttempt: (id, attempt) => recordTogether({ id, attempt }),
    ...sqliteEndpointManners(db, storage),
    pruneMessages: async (before, limit) => write('prune webhook messages', () => sql.prune.run(before, limit).changes),
    async countByStatus() {
      const counts: Record<MessageStatus, number> = { pending: 0, delivered: 0, failed: 0 };
      for (const row of sql.byStatus.all()) counts[row.status] = row.n;
      return counts;
    },
  };
}
