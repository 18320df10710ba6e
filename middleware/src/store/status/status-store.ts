import type { Outage, StoredStatus, UpstreamName } from '../../domain/model/status.js';

/**
 * Where delivery stands, the same on every replica: the poll cycles and their outages, the
 * counters, the latest deliveries, the webhooks, and the replicas' heartbeats.
 */
export interface StatusStore {
  /** `at` decides which replicas count as seen lately. */
  read(at?: Date): Promise<StoredStatus>;
  markPollStarted(at: Date): Promise<void>;
  /** Returns the outage this success ended, if one was going on. */
  markCycleSucceeded(at: Date): Promise<Outage | undefined>;
  /** Returns true when this failure starts an outage (the previous cycle succeeded). */
  markCycleFailed(upstream: UpstreamName, error: string, at: Date): Promise<boolean>;
  /**
   * A signed CRM webhook arrived, about this customer (whose id the CRM has thus shown). Noted
   * within a few milliseconds, the webhooks of that time in one write; a write that fails is not
   * retried, since the next webhook notes it again.
   */
  markWebhookReceived(at: Date, customerId?: number): void;
  /** The highest customer id a walk of the CRM has shown; it only grows. */
  recordCrmHighest(id: number): Promise<void>;
  /** This replica is alive at `at`: /status lists it for REPLICA_SEEN_WITHIN_MS. */
  heartbeat(replica: { id: string; startedAt: string }, at: Date): Promise<void>;
}

/** A replica whose heartbeat is older than this is no longer listed in /status. */
export const REPLICA_SEEN_WITHIN_MS = 60_000;

/** Heartbeats older than this are deleted: a replica gone for a day is not coming back under its name. */
export const REPLICA_FORGOTTEN_AFTER_MS = 24 * 3600_000;

export interface StateRow {
  cursor: number;
  last_poll_at: string | null;
  last_success_at: string | null;
  synced: number;
  already_there: number;
  failed_cycles: number;
  last_error: string | null;
  outage_upstream: UpstreamName | null;
  outage_since: string | null;
  crm_highest_id: number;
  via_webhook: number;
  via_long_poll: number;
  via_poll: number;
  last_webhook_at: string | null;
}

export interface DeliveryRow {
  customer_id: number;
  customer_name: string;
  package_id: number;
  outcome: 'created' | 'alreadyThere';
  at: string;
}

export interface ReplicaRow {
  id: string;
  started_at: string;
  last_seen_at: string;
}

export type OutageRow = Pick<StateRow, 'outage_upstream' | 'outage_since' | 'last_error'>;

export const toOutage = (row: OutageRow): Outage | null =>
  row.outage_upstream && row.outage_since
    ? { upstream: row.outage_upstream, since: row.outage_since, lastError: row.last_error ?? '' }
    : null;

export const seenSince = (at: Date): string => new Date(at.getTime() - REPLICA_SEEN_WITHIN_MS).toISOString();
export const forgottenBefore = (at: Date): string => new Date(at.getTime() - REPLICA_FORGOTTEN_AFTER_MS).toISOString();

export function toStatus(
  row: StateRow,
  deadLetters: number,
  deliveries: DeliveryRow[],
  replicas: ReplicaRow[],
): StoredStatus {
  return {
    cursor: row.cursor,
    lastPollAt: row.last_poll_at,
    lastSuccessAt: row.last_success_at,
    created: row.synced,
    synced: row.synced,
    alreadyThere: row.already_there,
    failedCycles: row.failed_cycles,
    lastError: row.last_error,
    outage: toOutage(row),
    deadLetters,
    crmHighestId: row.crm_highest_id,
    lag: Math.max(0, row.crm_highest_id - row.cursor),
    recentDeliveries: deliveries.map((d) => ({
      customerId: d.customer_id,
      customerName: d.customer_name,
      packageId: d.package_id,
      outcome: d.outcome,
      at: d.at,
    })),
    deliveriesByPath: { webhook: row.via_webhook, longPoll: row.via_long_poll, poll: row.via_poll },
    lastWebhookAt: row.last_webhook_at,
    replicas: replicas.map((r) => ({ id: r.id, startedAt: r.started_at, lastSeenAt: r.last_seen_at })),
  };
}
