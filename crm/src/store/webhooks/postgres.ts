import { groupCommit, type Postgres, type Queryable } from '@welcome/common';
import type { MessageStatus, NewEndpoint, WebhookEndpoint } from '../../domain/model.js';
import {
  afterAttempt,
  batchesOf,
  earliest,
  ENDPOINT_COLUMNS,
  MESSAGE_COLUMNS,
  toDueMessage,
  toEndpoint,
  toMessage,
  type Attempt,
  type DueMessage,
  type DueRow,
  type EndpointAttempt,
  type EndpointRow,
  type MessageRow,
  type WebhookStore,
} from './webhook-store.js';

// The endpoints whose messages may be sent at $1: not disabled, no Retry-After running.
const SENDABLE =
  'SELECT id FROM webhook_endpoints WHERE disabled_at IS NULL AND (throttled_until IS NULL OR throttled_until <= $1)';

// Claims as pg-boss and graphile-worker do: the oldest due messages that no lease holds, locked
// with SKIP LOCKED so that replicas claiming at the same instant take different ones, leased in
// the same statement (its own transaction: nothing stays open while the messages are sent).
const CLAIM_DUE = `
  WITH claimed AS (
    UPDATE webhook_messages SET lease_until = $3
    WHERE id IN (
      SELECT id FROM webhook_messages
      WHERE status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
        AND endpoint_id IN (${SENDABLE})
      ORDER BY next_attempt_at, id
      LIMIT $2
      FOR UPDATE SKIP LOCKED
    )
    RETURNING id, endpoint_id, payload, attempts, next_attempt_at
  )
  SELECT claimed.id, claimed.endpoint_id, claimed.payload, octet_length(claimed.payload) AS payload_bytes,
    claimed.attempts, endpoint.url, endpoint.secret, endpoint.batch_size, endpoint.failing_since
  FROM claimed JOIN webhook_endpoints endpoint ON endpoint.id = claimed.endpoint_id
  ORDER BY claimed.next_attempt_at, claimed.id`;

// Where an endpoint takes several messages a request: the candidates are locked first (SKIP LOCKED,
// as above), grouped into requests, and only those that fit are leased; the rest are let go at commit.
const LOCK_DUE = `
  SELECT m.id, m.endpoint_id, endpoint.batch_size, octet_length(m.payload) AS payload_bytes
  FROM webhook_messages m JOIN webhook_endpoints endpoint ON endpoint.id = m.endpoint_id
  WHERE m.status = 'pending' AND m.next_attempt_at <= $1 AND (m.lease_until IS NULL OR m.lease_until <= $1)
    AND endpoint.disabled_at IS NULL AND (endpoint.throttled_until IS NULL OR endpoint.throttled_until <= $1)
  ORDER BY m.next_attempt_at, m.id
  LIMIT $2
  FOR UPDATE OF m SKIP LOCKED`;
const LEASE = `
  WITH leased AS (
    UPDATE webhook_messages SET lease_until = $2 WHERE id = ANY($1::bigint[])
    RETURNING id, endpoint_id, payload, attempts
  )
  SELECT leased.id, leased.endpoint_id, leased.payload, octet_length(leased.payload) AS payload_bytes, leased.attempts,
    endpoint.url, endpoint.secret, endpoint.batch_size, endpoint.failing_since
  FROM leased JOIN webhook_endpoints endpoint ON endpoint.id = leased.endpoint_id`;

// Two lookups that each stay on an index: the first message due that no lease holds back, and
// the first lease to end that holds one back.
const NEXT_CLAIMABLE = `
  SELECT
    (SELECT next_attempt_at FROM webhook_messages
      WHERE status = 'pending' AND next_attempt_at IS NOT NULL
        AND (lease_until IS NULL OR lease_until <= next_attempt_at)
      ORDER BY next_attempt_at LIMIT 1) AS due_at,
    (SELECT MIN(lease_until) FROM webhook_messages
      WHERE lease_until IS NOT NULL AND status = 'pending' AND lease_until > next_attempt_at) AS lease_ends_at`;

// A message of a disabled endpoint keeps no next attempt; one of a throttled endpoint waits for its Retry-After.
const RECORD_ATTEMPTS = `
  UPDATE webhook_messages SET
    attempts = attempts + attempt.counted, last_attempt_at = attempt.at, last_status = attempt.status,
    last_error = attempt.error, status = attempt.outcome, lease_until = NULL,
    next_attempt_at = CASE WHEN endpoint.disabled_at IS NULL AND attempt.next_attempt_at IS NOT NULL
                           THEN GREATEST(attempt.next_attempt_at, endpoint.throttled_until) END
  FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::integer[])
    AS attempt (id, at, status, error, outcome, next_attempt_at, counted),
    webhook_endpoints endpoint
  WHERE webhook_messages.id = attempt.id AND endpoint.id = webhook_messages.endpoint_id`;

const ENDPOINT_ATTEMPT = `
  UPDATE webhook_endpoints SET
    failing_since = CASE WHEN $3::boolean THEN NULL ELSE COALESCE(failing_since, $2) END,
    throttled_until = GREATEST(throttled_until, $4::text)
  WHERE id = $1 RETURNING failing_since`;

// Endpoints are made under one lock, so that the limit and "one endpoint per WEBHOOK_URL" hold
// when replicas start, or are asked, at the same instant.
const lockEndpoints = (db: Postgres, tx: Queryable) =>
  tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`welcome-integration:webhook-endpoints:${db.schema}`]);

async function createWithin(tx: Queryable, endpoint: NewEndpoint, limit: number): Promise<WebhookEndpoint | undefined> {
  const [{ n }] = (await tx.query<{ n: number }>('SELECT COUNT(*) AS n FROM webhook_endpoints')) as [{ n: number }];
  if (n >= limit) return undefined;
  const [row] = await tx.query<EndpointRow>(
    'INSERT INTO webhook_endpoints (url, secret, batch_size, created_at) VALUES ($1, $2, $3, $4) ' +
      `RETURNING ${ENDPOINT_COLUMNS}`,
    [endpoint.url, endpoint.secret, endpoint.batchSize, endpoint.createdAt],
  );
  return toEndpoint(row!);
}

async function findOrCreateWithin(tx: Queryable, endpoint: NewEndpoint, limit: number) {
  const [existing] = await tx.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE url = $1 AND secret = $2 ORDER BY id LIMIT 1`,
    [endpoint.url, endpoint.secret],
  );
  if (existing) {
    if (existing.batch_size === endpoint.batchSize) return { endpoint: toEndpoint(existing), created: false };
    const [kept] = await tx.query<EndpointRow>(
      `UPDATE webhook_endpoints SET batch_size = $1 WHERE id = $2 RETURNING ${ENDPOINT_COLUMNS}`,
      [endpoint.batchSize, existing.id],
    );
    return { endpoint: toEndpoint(kept!), created: false };
  }
  const created = await createWithin(tx, endpoint, limit);
  return created && { endpoint: created, created: true };
}

async function findMessage(db: Postgres, endpointId: number, id: number) {
  const [row] = await db.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM webhook_messages WHERE endpoint_id = $1 AND id = $2`,
    [endpointId, id],
  );
  return row && toMessage(row);
}

async function claimDue(db: Postgres, at: string, requests: number, leaseUntil: string): Promise<DueMessage[][]> {
  const [{ n: largest }] = (await db.query<{ n: number }>(
    'SELECT COALESCE(MAX(batch_size), 1) AS n FROM webhook_endpoints',
  )) as [{ n: number }];
  if (largest === 1)
    return (await db.query<DueRow>(CLAIM_DUE, [at, requests, leaseUntil])).map((row) => [toDueMessage(row)]);
  const leased = await db.transaction(async (tx) => {
    const chosen = batchesOf(
      await tx.query<{ id: number; endpoint_id: number; batch_size: number; payload_bytes: number }>(LOCK_DUE, [
        at,
        requests * largest,
      ]),
      requests,
    );
    const rows = await tx.query<DueRow>(LEASE, [chosen.flat().map((row) => row.id), leaseUntil]);
    return { chosen, byId: new Map(rows.map((row) => [Number(row.id), row])) };
  });
  return leased.chosen.map((batch) => batch.map((row) => toDueMessage(leased.byId.get(Number(row.id))!)));
}

async function recordAttempts(db: Postgres, batch: Array<{ id: number; attempt: Attempt }>): Promise<void> {
  const outcomes = batch.map(({ attempt }) => afterAttempt(attempt));
  await db.query(RECORD_ATTEMPTS, [
    batch.map(({ id }) => id),
    batch.map(({ attempt }) => attempt.at),
    batch.map(({ attempt }) => attempt.status),
    batch.map(({ attempt }) => attempt.error),
    outcomes.map((outcome) => outcome.status),
    outcomes.map((outcome) => outcome.nextAttemptAt),
    outcomes.map((outcome) => (outcome.counted ? 1 : 0)),
  ]);
}

/** How one request went, for its endpoint; a Retry-After holds its pending messages until then, in the same commit. */
async function recordEndpointAttempt(db: Postgres, endpointId: number, at: string, attempt: EndpointAttempt) {
  const throttledUntil = typeof attempt === 'object' ? attempt.throttledUntil : null;
  return db.transaction(async (tx) => {
    const [row] = await tx.query<{ failing_since: string | null }>(ENDPOINT_ATTEMPT, [
      endpointId,
      at,
      attempt === 'delivered',
      throttledUntil,
    ]);
    if (throttledUntil !== null) {
      await tx.query(
        'UPDATE webhook_messages SET next_attempt_at = GREATEST(next_attempt_at, $2) ' +
          "WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at IS NOT NULL",
        [endpointId, throttledUntil],
      );
    }
    return { failingSince: row?.failing_since ?? null };
  });
}

/** The endpoint's manners: its runs of failures, its Retry-After, and whether it is disabled. */
function endpointManners(
  db: Postgres,
): Pick<WebhookStore, 'recordEndpointAttempt' | 'disableEndpoint' | 'enableEndpoint'> {
  return {
    recordEndpointAttempt: (endpointId, at, attempt) => recordEndpointAttempt(db, endpointId, at, attempt),
    disableEndpoint: (endpointId, at, reason) =>
      db.transaction(async (tx) => {
        const disabled = await tx.query(
          'UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3 ' +
            'WHERE id = $1 AND disabled_at IS NULL RETURNING id',
          [endpointId, at, reason],
        );
        if (disabled.length === 0) return false;
        await tx.query(
          "UPDATE webhook_messages SET next_attempt_at = NULL WHERE endpoint_id = $1 AND status = 'pending'",
          [endpointId],
        );
        return true;
      }),
    enableEndpoint: (endpointId, at) =>
      db.transaction(async (tx) => {
        const [row] = await tx.query<EndpointRow>(
          'UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL ' +
            `WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`,
          [endpointId],
        );
        if (!row) return undefined;
        await tx.query(
          "UPDATE webhook_messages SET status = 'pending', attempts = 0, next_attempt_at = $2 " +
            "WHERE endpoint_id = $1 AND status IN ('pending', 'failed')",
          [endpointId, at],
        );
        return toEndpoint(row);
      }),
  };
}

/**
 * Webhook endpoints and the outbox on a PostgreSQL server that any number of CRM replicas share:
 * every replica's dispatcher claims due messages with a lease, sends them outside any
 * transaction, then records the attempt, which ends the lease. A replica that dies mid-send
 * leaves its messages leased until the lease ends; then any replica claims them again.
 */
export function createPostgresWebhookStore(db: Postgres): WebhookStore {
  const recordTogether = groupCommit<{ id: number; attempt: Attempt }>((batch) => recordAttempts(db, batch));

  return {
    createEndpoint: (endpoint, limit) =>
      db.transaction(async (tx) => {
        await lockEndpoints(db, tx);
        return createWithin(tx, endpoint, limit);
      }),
    findOrCreateEndpoint: (endpoint, limit) =>
      db.transaction(async (tx) => {
        await lockEndpoints(db, tx);
        return findOrCreateWithin(tx, endpoint, limit);
      }),
    async findEndpoint(id) {
      const [row] = await db.query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1`, [
        id,
      ]);
      return row && toEndpoint(row);
    },
    async listEndpoints(after, limit) {
      const rows = await db.query<EndpointRow>(
        `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2`,
        [after, limit],
      );
      return rows.map(toEndpoint);
    },
    async deleteEndpoint(id) {
      return (await db.query('DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id', [id])).length > 0;
    },
    async listMessages(endpointId, after, limit) {
      const rows = await db.query<MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} FROM webhook_messages WHERE endpoint_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
        [endpointId, after, limit],
      );
      return rows.map(toMessage);
    },
    findMessage: (endpointId, id) => findMessage(db, endpointId, id),
    async makeDue(endpointId, id, at) {
      // Made due now, or when its endpoint's Retry-After ends if that is later.
      const [made] = await db.query<MessageRow>(
        `UPDATE webhook_messages SET status = 'pending',
           next_attempt_at = GREATEST($1, (SELECT throttled_until FROM webhook_endpoints WHERE id = $2))
         WHERE endpoint_id = $2 AND id = $3 AND status <> 'delivered' RETURNING ${MESSAGE_COLUMNS}`,
        [at, endpointId, id],
      );
      return made ? toMessage(made) : findMessage(db, endpointId, id);
    },
    claimDue: (at, requests, leaseUntil) => claimDue(db, at, requests, leaseUntil),
    async nextDueAt() {
      const [next] = await db.query<{ due_at: string | null; lease_ends_at: string | null }>(NEXT_CLAIMABLE);
      return earliest(next?.due_at, next?.lease_ends_at);
    },
    recordAttempt: (id, attempt) => recordTogether({ id, attempt }),
    ...endpointManners(db),
    async pruneMessages(before, limit) {
      const pruned = await db.query(
        `DELETE FROM webhook_messages WHERE id IN (
           SELECT id FROM webhook_messages WHERE status IN ('delivered', 'failed') AND last_attempt_at < $1
           ORDER BY id LIMIT $2
         ) RETURNING id`,
        [before, limit],
      );
      return pruned.length;
    },
    async countByStatus() {
      const counts: Record<MessageStatus, number> = { pending: 0, delivered: 0, failed: 0 };
      const rows = await db.query<{ status: MessageStatus; n: number }>(
        'SELECT status, COUNT(*) AS n FROM webhook_messages GROUP BY status',
      );
      for (const row of rows) counts[row.status] = row.n;
      return counts;
    },
  };
}
