import { groupCommit, type Postgres } from '@welcome/common';
import type { Claim } from '../../domain/model/delivery.js';
import {
  toKnown,
  type ClaimPurpose,
  type Confirmation,
  type DeliveryStore,
  type KnowledgeRow,
} from './delivery-store.js';
import { moveCursor, recordConfirmed } from './postgres-cursor.js';

type ClaimRow = KnowledgeRow & {
  customer_id: number;
  claimed: boolean;
  owner: string | null;
  lease_until: string | null;
};

/**
 * Claims the customers in one statement. Each insert is guarded by what the statement's snapshot
 * knows of its customer (unless it is a replay's), and a claim row another replica left is taken
 * over only once its lease has run out; rows are taken in id order, so that replicas claiming
 * overlapping sets wait for each other instead of deadlocking. The select beside it reads the
 * snapshot as it was before the insert: why a claim was not taken.
 */
const CLAIM = `
  WITH wanted AS (SELECT unnest($1::bigint[]) AS customer_id),
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
  WHERE s.id = 1`;

const HANDLED_AMONG = `
  SELECT c.id FROM unnest($1::bigint[]) AS c (id)
  WHERE c.id <= (SELECT cursor FROM sync_state WHERE id = 1)
     OR EXISTS (SELECT 1 FROM confirmed WHERE customer_id = c.id)
     OR EXISTS (SELECT 1 FROM dead_letters WHERE customer_id = c.id)`;

function claimOf(row: ClaimRow, purpose: ClaimPurpose): Claim | undefined {
  const known = purpose === 'replay' ? undefined : toKnown(row.customer_id, row);
  if (row.claimed) return { state: 'claimed' };
  if (known) return known;
  if (row.owner !== null && row.lease_until !== null)
    return { state: 'claimedElsewhere', owner: row.owner, until: row.lease_until };
  return undefined;
}

/**
 * The cursor, the confirmations and the claims on a PostgreSQL server shared by any number of
 * middleware replicas, so that none asks the Inventory for a customer another one holds.
 */
export function createPostgresDeliveryStore(pg: Postgres): DeliveryStore {
  const claimAll = async (
    customerIds: readonly number[],
    owner: string,
    at: Date,
    leaseMs: number,
    purpose: ClaimPurpose,
  ): Promise<Claim[]> => {
    const claims = new Map<number, Claim>();
    let wanted = [...new Set(customerIds)];
    const leaseUntil = new Date(at.getTime() + leaseMs).toISOString();
    while (wanted.length > 0) {
      const rows = await pg.query<ClaimRow>(CLAIM, [
        wanted,
        owner,
        leaseUntil,
        at.toISOString(),
        purpose === 'replay',
        purpose,
      ]);
      for (const row of rows) {
        const claim = claimOf(row, purpose);
        if (claim) claims.set(row.customer_id, claim);
      }
      // A claim met that was committed after the snapshot was taken: ask again for those.
      wanted = wanted.filter((customerId) => !claims.has(customerId));
    }
    return customerIds.map((customerId) => claims.get(customerId)!);
  };
  // The server groups concurrent commits itself; this keeps one transaction of this replica's
  // confirmations in flight at a time, the ones that arrive meanwhile forming the next.
  const confirmTogether = groupCommit<Confirmation>(async (batch) => {
    await pg.transaction((tx) => recordConfirmed(tx, batch));
  });

  return {
    async cursor() {
      const [row] = await pg.query<{ cursor: number }>('SELECT cursor FROM sync_state WHERE id = 1');
      return row!.cursor;
    },
    confirm: (delivery, at, path) => confirmTogether({ delivery, at: at.toISOString(), path }),
    advanceCursor: (customerId) => pg.transaction((tx) => moveCursor(tx, customerId)),
    claim: async (customerId, owner, at, leaseMs, purpose = 'delivery') =>
      (await claimAll([customerId], owner, at, leaseMs, purpose))[0]!,
    claimAll: (customerIds, owner, at, leaseMs) => claimAll(customerIds, owner, at, leaseMs, 'delivery'),
    async release(customerId, owner, purpose = 'delivery') {
      await pg.query('DELETE FROM claims WHERE customer_id = $1 AND purpose = $2 AND owner = $3', [
        customerId,
        purpose,
        owner,
      ]);
    },
    async handledAmong(customerIds) {
      const rows = await pg.query<{ id: number }>(HANDLED_AMONG, [customerIds]);
      return new Set(rows.map((row) => row.id));
    },
  };
}
