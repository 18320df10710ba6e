import { groupCommit, type Postgres, type Queryable } from '@welcome/common';
import {
  countsOf,
  type Confirmation,
  letterKey,
  RECENT_DELIVERIES,
  REPLICA_FORGOTTEN_AFTER_MS,
  REPLICA_SEEN_WITHIN_MS,
  toDeadLetter,
  toKnown,
  toStatus,
  type Claim,
  type DeadLetterRow,
  type DeliveryRow,
  journeyRow,
  type JourneyStepRow,
  toRecordedStep,
  keptFindings,
  toReconciliation,
  type ReconciliationEnd,
  type ReconciliationProgress,
  type ReconciliationRow,
  type KnowledgeRow,
  type Outage,
  type ReplicaRow,
  type StateRow,
  type SyncStore,
} from './sync-store.js';

type OutageRow = Pick<StateRow, 'outage_upstream' | 'outage_since' | 'last_error'>;

const purposeOf = (options: { replay?: boolean }) => (options.replay ? 'replay' : 'delivery');

const outageOf = (row: OutageRow): Outage | undefined =>
  row.outage_upstream && row.outage_since
    ? { upstream: row.outage_upstream, since: row.outage_since, lastError: row.last_error ?? '' }
    : undefined;

/**
 * Moves the cursor past `past`, then over the run of handled customers right after it, in one
 * statement. The state row is locked first (by the caller, who then gives the cursor it locked,
 * or here): every transaction that confirms or dead-letters takes the same lock before it moves
 * the cursor, so each one's walk sees the others' commits, and two replicas confirming neighbours
 * at once cannot both stop short of the other's.
 */
async function moveCursor(tx: Queryable, past = 0, lockedAt?: number): Promise<void> {
  const before =
    lockedAt ??
    (await tx.query<{ cursor: number }>('SELECT cursor FROM sync_state WHERE id = 1 FOR UPDATE'))[0]!.cursor;
  // Only the delivery claims the cursor had passed before this move go: a claim of a customer
  // confirmed in this very transaction stays until the next move, so that a replica that read
  // the state before this commit meets the claim instead of taking the customer again.
  await tx.query(
    `WITH RECURSIVE run (id) AS (
       SELECT GREATEST(cursor, $1::bigint) FROM sync_state WHERE id = 1
       UNION ALL
       SELECT run.id + 1 FROM run
       WHERE EXISTS (SELECT 1 FROM confirmed WHERE customer_id = run.id + 1)
          OR EXISTS (SELECT 1 FROM dead_letters WHERE customer_id = run.id + 1)
     ),
     moved AS (UPDATE sync_state SET cursor = (SELECT MAX(id) FROM run) WHERE id = 1 RETURNING cursor),
     forgotten AS (DELETE FROM confirmed WHERE customer_id <= (SELECT cursor FROM moved)),
     released AS (DELETE FROM claims WHERE purpose = 'delivery' AND customer_id <= $2::bigint)
     SELECT cursor FROM moved`,
    [past, before],
  );
}

/**
 * The sync state on a PostgreSQL server shared by any number of middleware replicas: cursor,
 * confirmations, dead letters, counters, claims and heartbeats are all there, so every replica
 * tells the same and none asks the Inventory for a customer another one holds.
 */
export function createPostgresSyncStore(pg: Postgres): SyncStore {
  /**
   * Counts confirmed packages, remembers them, keeps the latest among the recent ones, and moves the cursor over them.
   */
  const recordConfirmed = async (tx: Queryable, batch: readonly Confirmation[]) => {
    const counts = countsOf(batch);
    // The state row first: the lock every cursor move takes, in the same order everywhere.
    const [locked] = await tx.query<{ cursor: number }>(
      `UPDATE sync_state SET synced = synced + $1, already_there = already_there + $2,
         via_webhook = via_webhook + $3, via_long_poll = via_long_poll + $4, via_poll = via_poll + $5
       WHERE id = 1 RETURNING cursor`,
      [counts.created, counts.alreadyThere, counts.webhook, counts.longPoll, counts.poll],
    );
    // One row per customer: ON CONFLICT may not touch the same row twice in one statement.
    const latest = [...new Map(batch.map(({ delivery }) => [delivery.customerId, delivery])).values()];
    const recent = batch.slice(-RECENT_DELIVERIES);
    // The pruning sees the deliveries as they were before this statement:
    // at most a batch more than RECENT_DELIVERIES are kept.
    await tx.query(
      `WITH confirming AS (
         INSERT INTO confirmed (customer_id, package_id, outcome)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])
         ON CONFLICT (customer_id) DO UPDATE SET package_id = excluded.package_id, outcome = excluded.outcome
       ),
       recording AS (
         INSERT INTO deliveries (customer_id, customer_name, package_id, outcome, at)
         SELECT customer_id, customer_name, package_id, outcome, at
         FROM unnest($4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::text[])
           WITH ORDINALITY AS d (customer_id, customer_name, package_id, outcome, at, n)
         ORDER BY n
       )
       DELETE FROM deliveries WHERE id <= (SELECT MAX(id) FROM deliveries) - $9`,
      [
        latest.map((d) => d.customerId),
        latest.map((d) => d.packageId),
        latest.map((d) => d.outcome),
        recent.map((c) => c.delivery.customerId),
        recent.map((c) => c.delivery.customerName),
        recent.map((c) => c.delivery.packageId),
        recent.map((c) => c.delivery.outcome),
        recent.map((c) => c.at),
        RECENT_DELIVERIES,
      ],
    );
    await moveCursor(tx, 0, locked!.cursor);
  };
  const confirmAll = (batch: Confirmation[]) => pg.transaction((tx) => recordConfirmed(tx, batch));
  // The server groups concurrent commits itself; this keeps one transaction of this replica's
  // confirmations in flight at a time, the ones that arrive meanwhile forming the next.
  const confirmTogether = groupCommit<Confirmation>(async (batch) => void (await confirmAll(batch)));
  const noteWebhooks = groupCommit<{ at: string; customerId: number }>(async (batch) => {
    await pg.query(
      'UPDATE sync_state SET last_webhook_at = GREATEST(last_webhook_at, $1), ' +
        'crm_highest_id = GREATEST(crm_highest_id, $2) WHERE id = 1',
      [
        batch.reduce((latest, webhook) => (webhook.at > latest ? webhook.at : latest), ''),
        Math.max(...batch.map((webhook) => webhook.customerId)),
      ],
    );
  });

  /**
   * Claims the customers in one statement. Each insert is guarded by what the statement's snapshot
   * knows of its customer (unless it is a replay's), and a claim row another replica left is taken
   * over only once its lease has run out; rows are taken in id order, so that replicas claiming
   * overlapping sets wait for each other instead of deadlocking. The select beside it reads the
   * snapshot as it was before the insert: why a claim was not taken.
   */
  const claimAll = async (
    customerIds: readonly number[],
    owner: string,
    at: Date,
    leaseMs: number,
    replay: boolean,
  ): Promise<Claim[]> => {
    const claims = new Map<number, Claim>();
    let wanted = [...new Set(customerIds)];
    while (wanted.length > 0) {
      const rows = await pg.query<
        KnowledgeRow & { customer_id: number; claimed: boolean; owner: string | null; lease_until: string | null }
      >(
        `WITH wanted AS (SELECT unnest($1::bigint[]) AS customer_id),
         taken AS (
           INSERT INTO claims (customer_id, purpose, owner, lease_until)
           SELECT w.customer_id, $6::text, $2::text, $3::text FROM wanted w
           WHERE $5::boolean OR (
             w.customer_id > (SELECT cursor FROM sync_state WHERE id = 1)
             AND NOT EXISTS (SELECT 1 FROM confirmed c WHERE c.customer_id = w.customer_id)
             AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.customer_id = w.customer_id))
           ORDER BY w.customer_id
           ON CONFLICT (customer_id, purpose) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
             WHERE claims.lease_until <= $4::text OR claims.owner = excluded.owner
           RETURNING customer_id
         )
         SELECT w.customer_id, w.customer_id IN (SELECT customer_id FROM taken) AS claimed,
           s.cursor, c.package_id, c.outcome, d.id AS dead_letter_id, cl.owner, cl.lease_until
         FROM wanted w
         CROSS JOIN sync_state s
         LEFT JOIN confirmed c ON c.customer_id = w.customer_id
         LEFT JOIN dead_letters d ON d.customer_id = w.customer_id
         LEFT JOIN claims cl ON cl.customer_id = w.customer_id AND cl.purpose = $6::text
         WHERE s.id = 1`,
        [
          wanted,
          owner,
          new Date(at.getTime() + leaseMs).toISOString(),
          at.toISOString(),
          replay,
          replay ? 'replay' : 'delivery',
        ],
      );
      for (const row of rows) {
        const known = replay ? undefined : toKnown(row.customer_id, row);
        if (row.claimed) claims.set(row.customer_id, { state: 'claimed' });
        else if (known) claims.set(row.customer_id, known);
        else if (row.owner !== null && row.lease_until !== null) {
          claims.set(row.customer_id, { state: 'claimedElsewhere', owner: row.owner, until: row.lease_until });
        }
      }
      // A claim met that was committed after the snapshot was taken: ask again for those.
      wanted = wanted.filter((customerId) => !claims.has(customerId));
    }
    return customerIds.map((customerId) => claims.get(customerId)!);
  };

  /** Saves a walk's progress (and its end, if given) when the run is still this owner's running one. */
  const saveReconciliation = (
    id: number,
    owner: string,
    progress: ReconciliationProgress,
    at: Date,
    leaseUntil: string,
    end?: ReconciliationEnd,
  ) =>
    pg.transaction(async (tx) => {
      const [row] = await tx.query<{ findings: string }>(
        "SELECT findings FROM reconciliations WHERE id = $1 AND owner = $2 AND status = 'running' FOR UPDATE",
        [id, owner],
      );
      if (!row) return false;
      await tx.query(
        `UPDATE reconciliations SET position = $2, missing = $3, mismatched = $4, orphaned = $5, repaired = $6,
           findings = $7, lease_until = $8, updated_at = $9, status = $10, error = $11, finished_at = $12
         WHERE id = $1`,
        [
          id,
          progress.position,
          progress.counts.missing,
          progress.counts.mismatched,
          progress.counts.orphaned,
          progress.counts.repaired,
          keptFindings(row.findings, progress.findings),
          leaseUntil,
          at.toISOString(),
          end?.status ?? 'running',
          end?.status === 'failed' ? end.error : null,
          end ? at.toISOString() : null,
        ],
      );
      return true;
    });

  return {
    async cursor() {
      const [row] = await pg.query<{ cursor: number }>('SELECT cursor FROM sync_state WHERE id = 1');
      return row!.cursor;
    },
    async status(at = new Date()) {
      const [row] = await pg.query<
        StateRow & { dead_letter_count: number; deliveries: DeliveryRow[]; replicas: ReplicaRow[] }
      >(
        `SELECT s.*,
           (SELECT COUNT(*) FROM dead_letters) AS dead_letter_count,
           COALESCE((SELECT json_agg(d ORDER BY d.id DESC)
                     FROM (SELECT * FROM deliveries ORDER BY id DESC LIMIT $1) d), '[]') AS deliveries,
           COALESCE((SELECT json_agg(r ORDER BY r.id) FROM replicas r WHERE r.last_seen_at >= $2), '[]') AS replicas
         FROM sync_state s WHERE s.id = 1`,
        [RECENT_DELIVERIES, new Date(at.getTime() - REPLICA_SEEN_WITHIN_MS).toISOString()],
      );
      return toStatus(row!, row!.dead_letter_count, row!.deliveries, row!.replicas);
    },
    async markPollStarted(at) {
      await pg.query('UPDATE sync_state SET last_poll_at = $1 WHERE id = 1', [at.toISOString()]);
    },
    async markCycleSucceeded(at) {
      // The row as it was, locked, beside the update: whether this success ends an outage.
      const [before] = await pg.query<OutageRow>(
        `UPDATE sync_state s SET last_success_at = $1, last_error = NULL, outage_upstream = NULL, outage_since = NULL
         FROM (SELECT outage_upstream, outage_since, last_error FROM sync_state WHERE id = 1 FOR UPDATE) before
         WHERE s.id = 1 RETURNING before.*`,
        [at.toISOString()],
      );
      return outageOf(before!);
    },
    async markCycleFailed(upstream, error, at) {
      const [before] = await pg.query<OutageRow>(
        `UPDATE sync_state s SET failed_cycles = s.failed_cycles + 1, last_error = $1, outage_upstream = $2,
           outage_since = COALESCE(s.outage_since, $3)
         FROM (SELECT outage_upstream, outage_since, last_error FROM sync_state WHERE id = 1 FOR UPDATE) before
         WHERE s.id = 1 RETURNING before.*`,
        [error, upstream, at.toISOString()],
      );
      return outageOf(before!) === undefined;
    },
    confirm: (delivery, at, path) => confirmTogether({ delivery, at: at.toISOString(), path }),
    advanceCursor: (customerId) => pg.transaction((tx) => moveCursor(tx, customerId)),
    claim: async (customerId, owner, at, leaseMs, options = {}) =>
      (await claimAll([customerId], owner, at, leaseMs, options.replay ?? false))[0]!,
    claimAll: (customerIds, owner, at, leaseMs) => claimAll(customerIds, owner, at, leaseMs, false),
    async release(customerId, owner, options = {}) {
      await pg.query('DELETE FROM claims WHERE customer_id = $1 AND purpose = $2 AND owner = $3', [
        customerId,
        purposeOf(options),
        owner,
      ]);
    },
    async handledAmong(customerIds) {
      const rows = await pg.query<{ id: number }>(
        `SELECT c.id FROM unnest($1::bigint[]) AS c (id)
         WHERE c.id <= (SELECT cursor FROM sync_state WHERE id = 1)
            OR EXISTS (SELECT 1 FROM confirmed WHERE customer_id = c.id)
            OR EXISTS (SELECT 1 FROM dead_letters WHERE customer_id = c.id)`,
        [customerIds],
      );
      return new Set(rows.map((row) => row.id));
    },
    markWebhookReceived: (at, customerId = 0) =>
      void noteWebhooks({ at: at.toISOString(), customerId }).catch(() => undefined),
    async recordCrmHighest(id) {
      await pg.query('UPDATE sync_state SET crm_highest_id = $1 WHERE id = 1 AND crm_highest_id < $1', [id]);
    },
    recordDeadLetter: (letter, at, options = {}) =>
      pg.transaction(async (tx) => {
        const [row] = await tx.query<DeadLetterRow>(
          `INSERT INTO dead_letters (letter_key, customer_id, customer, status, reason, first_failed_at, last_failed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6)
           ON CONFLICT (letter_key) DO UPDATE SET
             customer = excluded.customer, status = excluded.status, reason = excluded.reason,
             attempts = dead_letters.attempts + 1, last_failed_at = excluded.last_failed_at
           RETURNING *`,
          [
            letterKey(letter),
            letter.customerId,
            JSON.stringify(letter.customer) ?? 'null',
            letter.status,
            JSON.stringify(letter.reason) ?? 'null',
            at.toISOString(),
          ],
        );
        if (letter.customerId !== null) await moveCursor(tx, (options.moveCursor ?? true) ? letter.customerId : 0);
        return toDeadLetter(row!);
      }),
    async findDeadLetter(id) {
      const [row] = await pg.query<DeadLetterRow>('SELECT * FROM dead_letters WHERE id = $1', [id]);
      return row && toDeadLetter(row);
    },
    async listDeadLetters(after, limit) {
      return (
        await pg.query<DeadLetterRow>('SELECT * FROM dead_letters WHERE id > $1 ORDER BY id LIMIT $2', [after, limit])
      ).map(toDeadLetter);
    },
    resolveDeadLetter: (id, delivery, at) =>
      pg.transaction(async (tx) => {
        await tx.query('DELETE FROM dead_letters WHERE id = $1', [id]);
        await recordConfirmed(tx, [{ delivery, at: at.toISOString() }]);
      }),
    async heartbeat(replica, at) {
      await pg.query(
        `INSERT INTO replicas (id, started_at, last_seen_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, last_seen_at = excluded.last_seen_at`,
        [replica.id, replica.startedAt, at.toISOString()],
      );
      await pg.query('DELETE FROM replicas WHERE last_seen_at < $1', [
        new Date(at.getTime() - REPLICA_FORGOTTEN_AFTER_MS).toISOString(),
      ]);
    },
    async deadLetteredAmong(customerIds) {
      const rows = await pg.query<{ customer_id: number }>(
        'SELECT customer_id FROM dead_letters WHERE customer_id = ANY($1::bigint[])',
        [customerIds],
      );
      return new Set(rows.map((row) => row.customer_id));
    },
    async startReconciliation(range, owner, at, leaseMs) {
      for (;;) {
        // The partial unique index lets one run at a time: an insert beside a running one does nothing.
        const [started] = await pg.query<ReconciliationRow>(
          `INSERT INTO reconciliations
             (status, from_id, to_id, repair, open_ended, position, owner, lease_until, started_at, updated_at)
           VALUES ('running', $1, $2, $3, $8, $4, $5, $6, $7, $7)
           ON CONFLICT (status) WHERE status = 'running' DO NOTHING
           RETURNING *`,
          [
            range.fromId,
            range.toId,
            range.repair,
            range.fromId - 1,
            owner,
            new Date(at.getTime() + leaseMs).toISOString(),
            at.toISOString(),
            range.openEnded,
          ],
        );
        if (started) return { started: true, run: toReconciliation(started) };
        const [running] = await pg.query<ReconciliationRow>("SELECT * FROM reconciliations WHERE status = 'running'");
        // Otherwise the running one ended between the two statements: try again.
        if (running) return { started: false, run: toReconciliation(running) };
      }
    },
    saveReconciliation: (id, owner, progress, at, leaseMs) =>
      saveReconciliation(id, owner, progress, at, new Date(at.getTime() + leaseMs).toISOString()),
    async finishReconciliation(id, owner, progress, end, at) {
      await saveReconciliation(id, owner, progress, at, '', end);
    },
    async leaveReconciliation(id, owner) {
      await pg.query(
        "UPDATE reconciliations SET lease_until = '' WHERE id = $1 AND owner = $2 AND status = 'running'",
        [id, owner],
      );
    },
    async adoptReconciliation(owner, at, leaseMs) {
      const [row] = await pg.query<ReconciliationRow>(
        'UPDATE reconciliations SET owner = $1, lease_until = $2 ' +
          "WHERE status = 'running' AND lease_until <= $3 RETURNING *",
        [owner, new Date(at.getTime() + leaseMs).toISOString(), at.toISOString()],
      );
      return row && toReconciliation(row);
    },
    async findReconciliation(id) {
      const [row] = await pg.query<ReconciliationRow>('SELECT * FROM reconciliations WHERE id = $1', [id]);
      return row && toReconciliation(row);
    },
    async latestReconciliation() {
      const [row] = await pg.query<ReconciliationRow>('SELECT * FROM reconciliations ORDER BY id DESC LIMIT 1');
      return row && toReconciliation(row);
    },
    async listReconciliations(after, limit) {
      return (
        await pg.query<ReconciliationRow>('SELECT * FROM reconciliations WHERE id > $1 ORDER BY id LIMIT $2', [
          after,
          limit,
        ])
      ).map(toReconciliation);
    },
    async recordJourney(entries) {
      if (entries.length === 0) return;
      const rows = entries.map(journeyRow);
      await pg.query(
        `INSERT INTO journey_steps (customer_id, at, kind, detail, trace_id)
         SELECT customer_id, at, kind, detail, trace_id
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
           WITH ORDINALITY AS s (customer_id, at, kind, detail, trace_id, n)
         ORDER BY n`,
        [0, 1, 2, 3, 4].map((column) => rows.map((row) => row[column])),
      );
    },
    async journeyOf(customerId) {
      const rows = await pg.query<JourneyStepRow>(
        'SELECT kind, at, detail, trace_id FROM journey_steps WHERE customer_id = $1 ORDER BY at, id',
        [customerId],
      );
      return rows.map(toRecordedStep);
    },
    async pruneJourneys(before, limit) {
      // Replicas prune at the same hours: each skips the steps another is deleting.
      const [pruned] = await pg.query<{ n: number }>(
        `WITH pruned AS (
           DELETE FROM journey_steps WHERE id IN (
             SELECT id FROM journey_steps WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED
           ) RETURNING 1
         )
         SELECT COUNT(*) AS n FROM pruned`,
        [before, limit],
      );
      return pruned!.n;
    },
  };
}
