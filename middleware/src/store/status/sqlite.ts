import { groupCommit, type Db, type StorageGuard } from '@welcome/common';
import type { UpstreamName } from '../../domain/model/status.js';
import { RECENT_DELIVERIES } from '../deliveries/delivery-store.js';
import {
  forgottenBefore,
  seenSince,
  toOutage,
  toStatus,
  type DeliveryRow,
  type ReplicaRow,
  type StateRow,
  type StatusStore,
} from './status-store.js';

/** The least time between two writes of the webhooks noted, as between two commits of confirmations. */
const WEBHOOK_NOTE_SPACING_MS = 10;

/** Where delivery stands, in a SQLite file. */
export function createSqliteStatusStore(db: Db, storage: StorageGuard): StatusStore {
  const state = db.prepare<[], StateRow>('SELECT * FROM sync_state WHERE id = 1');
  const deadLetterCount = db.prepare<[], number>('SELECT COUNT(*) FROM dead_letters').pluck();
  const recentDeliveries = db.prepare<[number], DeliveryRow>('SELECT * FROM deliveries ORDER BY id DESC LIMIT ?');
  const replicasSince = db.prepare<[string], ReplicaRow>('SELECT * FROM replicas WHERE last_seen_at >= ? ORDER BY id');
  const pollStarted = db.prepare<[string]>('UPDATE sync_state SET last_poll_at = ? WHERE id = 1');
  const cycleSucceeded = db.prepare<[string]>(
    'UPDATE sync_state SET last_success_at = ?, last_error = NULL, outage_upstream = NULL, outage_since = NULL ' +
      'WHERE id = 1',
  );
  const cycleFailed = db.prepare<[string, string, string]>(`
    UPDATE sync_state SET failed_cycles = failed_cycles + 1, last_error = ?, outage_upstream = ?,
      outage_since = COALESCE(outage_since, ?)
    WHERE id = 1
  `);
  const webhookReceived = db.prepare<[string, number]>(
    'UPDATE sync_state SET last_webhook_at = ?, crm_highest_id = MAX(crm_highest_id, ?) WHERE id = 1',
  );
  const crmHighest = db.prepare<[number]>('UPDATE sync_state SET crm_highest_id = MAX(crm_highest_id, ?) WHERE id = 1');
  const upsertReplica = db.prepare<[string, string, string]>(`
    INSERT INTO replicas (id, started_at, last_seen_at) VALUES (?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, last_seen_at = excluded.last_seen_at
  `);
  const forgetReplicas = db.prepare<[string]>('DELETE FROM replicas WHERE last_seen_at < ?');

  const markCycleSucceeded = db.transaction((at: string) => {
    const ended = toOutage(state.get()!);
    cycleSucceeded.run(at);
    return ended ?? undefined;
  });
  const markCycleFailed = db.transaction((upstream: UpstreamName, error: string, at: string) => {
    const started = toOutage(state.get()!) === null;
    cycleFailed.run(error, upstream, at);
    return started;
  });
  const heartbeat = db.transaction((id: string, startedAt: string, at: Date) => {
    upsertReplica.run(id, startedAt, at.toISOString());
    forgetReplicas.run(forgottenBefore(at));
  });
  // Webhooks noted together share one write: the latest time and the highest id. A write that
  // fails is logged by the storage guard; the next webhook notes it again.
  const noteWebhooks = groupCommit<{ at: string; customerId: number }>(
    (batch) =>
      void storage.write('markWebhookReceived', () =>
        webhookReceived.run(batch.at(-1)!.at, Math.max(...batch.map((webhook) => webhook.customerId))),
      ),
    { spacingMs: WEBHOOK_NOTE_SPACING_MS },
  );

  return {
    read: async (at = new Date()) =>
      toStatus(
        state.get()!,
        deadLetterCount.get()!,
        recentDeliveries.all(RECENT_DELIVERIES),
        replicasSince.all(seenSince(at)),
      ),
    markPollStarted: async (at) => void storage.write('markPollStarted', () => pollStarted.run(at.toISOString())),
    markCycleSucceeded: async (at) =>
      storage.write('markCycleSucceeded', () => markCycleSucceeded.immediate(at.toISOString())),
    markCycleFailed: async (upstream, error, at) =>
      storage.write('markCycleFailed', () => markCycleFailed.immediate(upstream, error, at.toISOString())),
    markWebhookReceived: (at, customerId = 0) =>
      void noteWebhooks({ at: at.toISOString(), customerId }).catch(() => undefined),
    recordCrmHighest: async (id) => void storage.write('recordCrmHighest', () => crmHighest.run(id)),
    heartbeat: async (replica, at) =>
      storage.write('heartbeat', () => heartbeat.immediate(replica.id, replica.startedAt, at)),
  };
}
