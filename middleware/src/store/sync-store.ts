import { createHash } from 'node:crypto';
import type { ServiceDatabase } from '@welcome/common';
import { createPostgresSyncStore } from './postgres-sync-store.js';
import { createSqliteSyncStore } from './sqlite-sync-store.js';

/** Which upstream an outage is of, as the store keeps it. */
export type UpstreamName = 'CRM' | 'Inventory';

export interface Outage {
  upstream: UpstreamName;
  since: string;
  lastError: string;
}

/** A middleware process sharing the work, as its heartbeat last told. */
export interface Replica {
  id: string;
  startedAt: string;
  lastSeenAt: string;
}

export interface SyncStatus {
  /** The id of the last customer handled (delivered or dead-lettered); 0 before the first. */
  cursor: number;
  lastPollAt: string | null;
  lastSuccessAt: string | null;
  /** Packages this middleware created. */
  synced: number;
  /** Customers whose package the Inventory already had (a resend after a crash, say). */
  alreadyThere: number;
  failedCycles: number;
  /** The error of the last failed cycle; cleared by a successful one. */
  lastError: string | null;
  /** Set while cycles fail: which upstream, since when, and its latest error. */
  outage: Outage | null;
  deadLetters: number;
  /** The highest customer id the CRM has shown. */
  crmHighestId: number;
  /** How far the cursor is behind it, in ids. */
  lag: number;
  /** The latest packages confirmed, newest first. */
  recentDeliveries: Delivery[];
  /** Packages confirmed (made or already there) by the path that carried the customer. */
  deliveriesByPath: Record<DeliveryPath, number>;
  /** When the last signed CRM webhook arrived; null before the first. */
  lastWebhookAt: string | null;
  /** The replicas whose heartbeat was seen within REPLICA_SEEN_WITHIN_MS, by id. */
  replicas: Replica[];
}

/** How a customer reached the middleware: a CRM webhook, a long poll, or a plain poll. */
export type DeliveryPath = 'webhook' | 'longPoll' | 'poll';

/** What the middleware already knows of a customer, so that nobody asks the Inventory twice. */
export type KnownCustomer =
  | { state: 'behindCursor' }
  | { state: 'confirmed'; packageId: number; outcome: Delivered }
  | { state: 'deadLettered'; deadLetterId: number };

/**
 * The answer to a claim: this replica may ask the Inventory for the customer now; or the customer
 * is handled already; or another replica holds it until its lease ends.
 */
export type Claim = { state: 'claimed' } | KnownCustomer | { state: 'claimedElsewhere'; owner: string; until: string };

export interface Delivery {
  customerId: number;
  customerName: string;
  packageId: number;
  outcome: Delivered;
  at: string;
}

export interface DeadLetter {
  id: number;
  /** Null for a CRM record without a usable id. */
  customerId: number | null;
  /** The customer as the CRM sent it. */
  customer: unknown;
  /** The Inventory's status code, or null when the CRM record itself was unusable. */
  status: number | null;
  /** The Inventory's answer, or what was wrong with the record. */
  reason: unknown;
  attempts: number;
  firstFailedAt: string;
  lastFailedAt: string;
}

export interface NewDeadLetter {
  customerId: number | null;
  customer: unknown;
  status: number | null;
  reason: unknown;
}

export type Delivered = 'created' | 'alreadyThere';

export type FindingKind = 'missing' | 'mismatched' | 'orphaned';

/**
 * One difference a reconciliation found between the CRM and the Inventory: a customer without a
 * package (with what its repair did, when repair is on), a package under another name than its
 * customer's, or a package for a customer the CRM does not have.
 */
export interface Finding {
  kind: FindingKind;
  customerId: number;
  /** The name the CRM has (missing, mismatched). */
  customerName?: string;
  /** The Inventory's package (mismatched, orphaned; missing once repaired). */
  packageId?: number;
  /** The name the package was made for (mismatched, orphaned). */
  packageCustomerName?: string;
  /** What the repair of a missing customer came to. */
  repair?: 'created' | 'alreadyThere' | 'deadLettered';
}

export interface FindingCounts {
  missing: number;
  mismatched: number;
  orphaned: number;
  /** Missing customers that have their package now. */
  repaired: number;
}

/** How many findings a reconciliation keeps to show; the counts cover them all. */
export const KEPT_FINDINGS = 100;

export type ReconciliationStatus = 'running' | 'done' | 'failed';

/** A walk of the customers `fromId`..`toId` side by side with their packages. */
export interface ReconciliationRange {
  fromId: number;
  toId: number;
  repair: boolean;
  /**
   * No end was asked for: after `toId` (the cursor), the packages of customers beyond it are
   * looked at too, for orphans and mismatches only (those customers are not handled yet).
   */
  openEnded: boolean;
}

export interface Reconciliation extends ReconciliationRange {
  id: number;
  status: ReconciliationStatus;
  /** The last id compared (and repaired): a walk resumed after a restart goes on after it. */
  position: number;
  counts: FindingCounts;
  /** The first KEPT_FINDINGS findings, in id order. */
  findings: Finding[];
  error: string | null;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** What a walk has done since its last save: where it is, its counts so far, and its new findings. */
export interface ReconciliationProgress {
  position: number;
  counts: FindingCounts;
  findings: readonly Finding[];
}

/** How a walk ended. */
export type ReconciliationEnd = { status: 'done' } | { status: 'failed'; error: string };

/** How a customer was found: one of the delivery paths, a reconciliation, or a dead letter's replay. */
export type FoundVia = DeliveryPath | 'reconciliation' | 'replay';

/** One step of a customer's way through the middleware; `at` is an ISO 8601 time. */
export type JourneyStep =
  /** At the CRM: the customer's createdAt. */
  | { kind: 'created'; at: string }
  | { kind: 'found'; at: string; via: FoundVia }
  /** One HTTP attempt at the Inventory: its status, or null and the error when it gave no answer. */
  | { kind: 'asked'; at: string; status: number | null; error?: string }
  | {
      kind: 'outcome';
      at: string;
      outcome: 'created' | 'alreadyThere' | 'deadLettered' | 'replayed' | 'repaired';
      packageId?: number;
      deadLetterId?: number;
      status?: number;
    };

/** A step to record, with the trace it happened in. */
export interface JourneyEntry {
  customerId: number;
  step: JourneyStep;
  traceId?: string | undefined;
}

/** A recorded step, with its trace id (null when it was recorded outside a trace). */
export type RecordedStep = JourneyStep & { traceId: string | null };

/**
 * The middleware's state: on SQLite for one process, on PostgreSQL for any number of replicas,
 * which then share the cursor, the confirmations, the dead letters, the counters and the claims.
 */
export interface SyncStore {
  cursor(): Promise<number>;
  /** `at` decides which replicas count as seen lately. */
  status(at?: Date): Promise<SyncStatus>;
  markPollStarted(at: Date): Promise<void>;
  /** Returns the outage this success ended, if one was going on. */
  markCycleSucceeded(at: Date): Promise<Outage | undefined>;
  /** Returns true when this failure starts an outage (the previous cycle succeeded). */
  markCycleFailed(upstream: UpstreamName, error: string, at: Date): Promise<boolean>;
  /**
   * Group commit: the confirmations asked for together are written in one transaction, each
   * promise settling once it is committed. The cursor moves over the run of confirmed customers
   * right after it. A confirmation without a path (a reconciliation's repair) counts in no path's column.
   */
  confirm(delivery: Omit<Delivery, 'at'>, at: Date, path?: DeliveryPath): Promise<void>;
  /**
   * Moves the cursor past a customer handled before (by a webhook, say), and on over the run of
   * handled customers right after it: never backwards.
   */
  advanceCursor(customerId: number): Promise<void>;
  /**
   * Takes the customer for `owner` until `at` + `leaseMs`, unless it is handled already or another
   * owner's lease still runs. With `replay`, the claim is one to ask again for a customer handled
   * already (to replay its dead letter, or to repair the package a reconciliation found missing):
   * handled or not, and held apart from the claims to deliver it, so such asks take turns among
   * themselves only.
   */
  claim(customerId: number, owner: string, at: Date, leaseMs: number, options?: { replay?: boolean }): Promise<Claim>;
  /** As `claim` (to deliver) for several customers in one go, the answers in the same order: the poller's next ones. */
  claimAll(customerIds: readonly number[], owner: string, at: Date, leaseMs: number): Promise<Claim[]>;
  /**
   * Gives the customer back before the lease ends:
   * the Inventory gave no answer, or the replay is over, and anyone may go on.
   */
  release(customerId: number, owner: string, options?: { replay?: boolean }): Promise<void>;
  /** Which of these customers are handled by now (confirmed, dead-lettered or behind the cursor), by anyone. */
  handledAmong(customerIds: readonly number[]): Promise<Set<number>>;
  /**
   * A signed CRM webhook arrived, about this customer (whose id the CRM has thus shown). Noted
   * within a few milliseconds, the webhooks of that time in one write; a write that fails is not
   * retried, since the next webhook notes it again.
   */
  markWebhookReceived(at: Date, customerId?: number): void;
  /** The highest customer id a walk of the CRM has shown; it only grows. */
  recordCrmHighest(id: number): Promise<void>;
  /**
   * Keeps a record that cannot be delivered, with the reason, and (unless `moveCursor` is false)
   * moves the cursor past its customer in the same commit. The same customer or the same unidentified record again adds
   * an attempt to its letter instead of a second letter.
   */
  recordDeadLetter(letter: NewDeadLetter, at: Date, options?: { moveCursor?: boolean }): Promise<DeadLetter>;
  findDeadLetter(id: number): Promise<DeadLetter | undefined>;
  listDeadLetters(after: number, limit: number): Promise<DeadLetter[]>;
  /** A replay delivered it: it leaves the list and counts as delivered. */
  resolveDeadLetter(id: number, delivery: Omit<Delivery, 'at'>, at: Date): Promise<void>;
  /** This replica is alive at `at`: /status lists it for REPLICA_SEEN_WITHIN_MS. */
  heartbeat(replica: { id: string; startedAt: string }, at: Date): Promise<void>;
  /** Which of these customers have a dead letter. */
  deadLetteredAmong(customerIds: readonly number[]): Promise<Set<number>>;
  /**
   * Starts a reconciliation held by `owner` until `at` + `leaseMs`, unless one is running already
   * (on any replica): then `started` is false and `run` is that one.
   */
  startReconciliation(
    range: ReconciliationRange,
    owner: string,
    at: Date,
    leaseMs: number,
  ): Promise<{ started: boolean; run: Reconciliation }>;
  /**
   * Saves a running walk's progress and renews its lease; false when the run is no longer this
   * owner's (its lease ran out and another replica took it over), and then nothing is saved.
   */
  saveReconciliation(
    id: number,
    owner: string,
    progress: ReconciliationProgress,
    at: Date,
    leaseMs: number,
  ): Promise<boolean>;
  /** Saves the last progress and ends the run, if it is still this owner's. */
  finishReconciliation(
    id: number,
    owner: string,
    progress: ReconciliationProgress,
    end: ReconciliationEnd,
    at: Date,
  ): Promise<void>;
  /** Lets another replica (or this one) take the run over at once: this process stops walking it. */
  leaveReconciliation(id: number, owner: string): Promise<void>;
  /** Takes over a running reconciliation whose lease has run out (its walker stopped or died), for `owner`. */
  adoptReconciliation(owner: string, at: Date, leaseMs: number): Promise<Reconciliation | undefined>;
  findReconciliation(id: number): Promise<Reconciliation | undefined>;
  latestReconciliation(): Promise<Reconciliation | undefined>;
  listReconciliations(after: number, limit: number): Promise<Reconciliation[]>;
  /** Writes the steps in one statement, in the order given. */
  recordJourney(entries: readonly JourneyEntry[]): Promise<void>;
  /**
   * The customer's steps in time order, those of the same time in the order they were recorded;
   * none for a customer never seen.
   */
  journeyOf(customerId: number): Promise<RecordedStep[]>;
  /** Deletes up to `limit` steps older than `before` (oldest first), and says how many it deleted. */
  pruneJourneys(before: string, limit: number): Promise<number>;
}

/** How many of the latest deliveries are kept for /status and the status page. */
export const RECENT_DELIVERIES = 20;

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
  outcome: Delivered;
  at: string;
}

export interface DeadLetterRow {
  id: number;
  customer_id: number | null;
  customer: string;
  status: number | null;
  reason: string;
  attempts: number;
  first_failed_at: string;
  last_failed_at: string;
}

export interface ReplicaRow {
  id: string;
  started_at: string;
  last_seen_at: string;
}

/** What is known of one customer, read together: the cursor, its confirmation, its dead letter. */
export interface KnowledgeRow {
  cursor: number;
  package_id: number | null;
  outcome: Delivered | null;
  dead_letter_id: number | null;
}

export const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  customerId: row.customer_id,
  customer: JSON.parse(row.customer) as unknown,
  status: row.status,
  reason: JSON.parse(row.reason) as unknown,
  attempts: row.attempts,
  firstFailedAt: row.first_failed_at,
  lastFailedAt: row.last_failed_at,
});

export const toOutage = (row: StateRow): Outage | null =>
  row.outage_upstream && row.outage_since
    ? { upstream: row.outage_upstream, since: row.outage_since, lastError: row.last_error ?? '' }
    : null;

export function toStatus(
  row: StateRow,
  deadLetters: number,
  deliveries: DeliveryRow[],
  replicas: ReplicaRow[],
): SyncStatus {
  return {
    cursor: row.cursor,
    lastPollAt: row.last_poll_at,
    lastSuccessAt: row.last_success_at,
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

export function toKnown(customerId: number, row: KnowledgeRow): KnownCustomer | undefined {
  if (customerId <= row.cursor) return { state: 'behindCursor' };
  if (row.package_id !== null && row.outcome !== null)
    return { state: 'confirmed', packageId: row.package_id, outcome: row.outcome };
  return row.dead_letter_id !== null ? { state: 'deadLettered', deadLetterId: row.dead_letter_id } : undefined;
}

export interface ReconciliationRow {
  id: number;
  status: ReconciliationStatus;
  from_id: number;
  to_id: number;
  repair: number | boolean;
  open_ended: number | boolean;
  position: number;
  missing: number;
  mismatched: number;
  orphaned: number;
  repaired: number;
  findings: string;
  error: string | null;
  owner: string;
  lease_until: string;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
}

export const toReconciliation = (row: ReconciliationRow): Reconciliation => ({
  id: row.id,
  status: row.status,
  fromId: row.from_id,
  toId: row.to_id,
  repair: Boolean(row.repair),
  openEnded: Boolean(row.open_ended),
  position: row.position,
  counts: { missing: row.missing, mismatched: row.mismatched, orphaned: row.orphaned, repaired: row.repaired },
  findings: JSON.parse(row.findings) as Finding[],
  error: row.error,
  startedAt: row.started_at,
  updatedAt: row.updated_at,
  finishedAt: row.finished_at,
});

/** The findings kept after a save: those kept before, then the new ones, up to KEPT_FINDINGS. */
export function keptFindings(kept: string, added: readonly Finding[]): string {
  const findings = JSON.parse(kept) as Finding[];
  if (findings.length >= KEPT_FINDINGS || added.length === 0) return kept;
  return JSON.stringify([...findings, ...added.slice(0, KEPT_FINDINGS - findings.length)]);
}

/** What makes two letters the same: the customer id, or for a record without one, its content. */
export function letterKey(letter: NewDeadLetter): string {
  if (letter.customerId !== null) return `customer:${letter.customerId}`;
  return `record:${createHash('sha256')
    .update(JSON.stringify(letter.customer) ?? 'undefined')
    .digest('hex')}`;
}

/** A package confirmed, to be recorded: by the path that brought its customer, none for a replay. */
export type Confirmation = { delivery: Omit<Delivery, 'at'>; at: string; path?: DeliveryPath };

/** What a batch of confirmations adds to the counters: created or already there, and by which path. */
export function countsOf(batch: readonly Confirmation[]) {
  const created = batch.filter(({ delivery }) => delivery.outcome === 'created').length;
  const byPath = (path: DeliveryPath) => batch.filter((confirmation) => confirmation.path === path).length;
  return {
    created,
    alreadyThere: batch.length - created,
    webhook: byPath('webhook'),
    longPoll: byPath('longPoll'),
    poll: byPath('poll'),
  };
}

export interface JourneyStepRow {
  kind: JourneyStep['kind'];
  at: string;
  detail: string;
  trace_id: string | null;
}

/** A step as stored: its kind and time in their own columns, the rest as JSON text. */
export function journeyRow(
  entry: JourneyEntry,
): [customerId: number, at: string, kind: string, detail: string, traceId: string | null] {
  const { kind, at, ...detail } = entry.step;
  return [entry.customerId, at, kind, JSON.stringify(detail), entry.traceId ?? null];
}

export const toRecordedStep = (row: JourneyStepRow): RecordedStep =>
  ({ kind: row.kind, at: row.at, ...(JSON.parse(row.detail) as object), traceId: row.trace_id }) as RecordedStep;

/** The sync store on the service's database, whichever it is. */
export function createSyncStore(database: ServiceDatabase): SyncStore {
  return database.kind === 'sqlite'
    ? createSqliteSyncStore(database.db, database.storage)
    : createPostgresSyncStore(database.pg);
}
