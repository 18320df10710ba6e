import type { Queryable } from '@welcome/common';
import { countsOf, RECENT_DELIVERIES, type Confirmation } from './delivery-store.js';

/**
 * Moves the cursor past `past`, then over the run of handled customers right after it, in one
 * statement. The state row is locked first (by the caller, who then gives the cursor it locked,
 * or here): every transaction that confirms or dead-letters takes the same lock before it moves
 * the cursor, so each one's walk sees the others' commits, and two replicas confirming neighbours
 * at once cannot both stop short of the other's.
 */
export async function moveCursor(tx: Queryable, past = 0, lockedAt?: number): Promise<void> {
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
 * Counts confirmed packages, remembers them, keeps the latest among the recent ones, and moves the
 * cursor over them.
 */
export async function recordConfirmed(tx: Queryable, batch: readonly Confirmation[]): Promise<void> {
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
}
