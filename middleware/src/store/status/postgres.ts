import { groupCommit, type Postgres } from '@welcome/common';
import { RECENT_DELIVERIES } from '../deliveries/delivery-store.js';
import {
  forgottenBefore,
  seenSince,
  toOutage,
  toStatus,
  type DeliveryRow,
  type OutageRow,
  type ReplicaRow,
  type StateRow,
  type StatusStore,
} from './status-store.js';

const READ = `
  SELECT s.*,
    (SELECT COUNT(*) FROM dead_letters) AS dead_letter_count,
    COALESCE((SELECT json_agg(d ORDER BY d.id DESC)
              FROM (SELECT * FROM deliveries ORDER BY id DESC LIMIT $1) d), '[]') AS deliveries,
    COALESCE((SELECT json_agg(r ORDER BY r.id) FROM replicas r WHERE r.last_seen_at >= $2), '[]') AS replicas
  FROM sync_state s WHERE s.id = 1`;

// The row as it was, locked, beside the update: whether this success ends an outage.
const CYCLE_SUCCEEDED = `
  UPDATE sync_state s SET last_success_at = $1, last_error = NULL, outage_upstream = NULL, outage_since = NULL
  FROM (SELECT outage_upstream, outage_since, last_error FROM sync_state WHERE id = 1 FOR UPDATE) before
  WHERE s.id = 1 RETURNING before.*`;

const CYCLE_FAILED = `
  UPDATE sync_state s SET failed_cycles = s.failed_cycles + 1, last_error = $1, outage_upstream = $2,
    outage_since = COALESCE(s.outage_since, $3)
  FROM (SELECT outage_upstream, outage_since, last_error FROM sync_state WHERE id = 1 FOR UPDATE) before
  WHERE s.id = 1 RETURNING before.*`;

const HEARTBEAT = `
  INSERT INTO replicas (id, started_at, last_seen_at) VALUES ($1, $2, $3)
  ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, last_seen_at = excluded.last_seen_at`;

type StatusRow = StateRow & { dead_letter_count: number; deliveries: DeliveryRow[]; replicas: ReplicaRow[] };

/** Where delivery stands, on a PostgreSQL server every replica reads and writes. */
export function createPostgresStatusStore(pg: Postgres): StatusStore {
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

  return {
    async read(at = new Date()) {
      const [row] = await pg.query<StatusRow>(READ, [RECENT_DELIVERIES, seenSince(at)]);
      return toStatus(row!, row!.dead_letter_count, row!.deliveries, row!.replicas);
    },
    async markPollStarted(at) {
      await pg.query('UPDATE sync_state SET last_poll_at = $1 WHERE id = 1', [at.toISOString()]);
    },
    async markCycleSucceeded(at) {
      const [before] = await pg.query<OutageRow>(CYCLE_SUCCEEDED, [at.toISOString()]);
      return toOutage(before!) ?? undefined;
    },
    async markCycleFailed(upstream, error, at) {
      const [before] = await pg.query<OutageRow>(CYCLE_FAILED, [error, upstream, at.toISOString()]);
      return toOutage(before!) === null;
    },
    markWebhookReceived: (at, customerId = 0) =>
      void noteWebhooks({ at: at.toISOString(), customerId }).catch(() => undefined),
    async recordCrmHighest(id) {
      await pg.query('UPDATE sync_state SET crm_highest_id = $1 WHERE id = 1 AND crm_highest_id < $1', [id]);
    },
    async heartbeat(replica, at) {
      await pg.query(HEARTBEAT, [replica.id, replica.startedAt, at.toISOString()]);
      await pg.query('DELETE FROM replicas WHERE last_seen_at < $1', [forgottenBefore(at)]);
    },
  };
}
