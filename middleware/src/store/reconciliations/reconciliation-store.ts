import {
  KEPT_FINDINGS,
  type Finding,
  type Reconciliation,
  type ReconciliationEnd,
  type ReconciliationProgress,
  type ReconciliationRange,
  type ReconciliationStatus,
} from '../../domain/model/reconciliation.js';

/** The reconciliations: one running at a time among all replicas, its walk saved as it goes. */
export interface ReconciliationStore {
  /**
   * Starts a reconciliation held by `owner` until `at` + `leaseMs`, unless one is running already
   * (on any replica): then `started` is false and `run` is that one.
   */
  start(
    range: ReconciliationRange,
    owner: string,
    at: Date,
    leaseMs: number,
  ): Promise<{ started: boolean; run: Reconciliation }>;
  /**
   * Saves a running walk's progress and renews its lease; false when the run is no longer this
   * owner's (its lease ran out and another replica took it over), and then nothing is saved.
   */
  save(id: number, owner: string, progress: ReconciliationProgress, at: Date, leaseMs: number): Promise<boolean>;
  /** Saves the last progress and ends the run, if it is still this owner's. */
  finish(id: number, owner: string, progress: ReconciliationProgress, end: ReconciliationEnd, at: Date): Promise<void>;
  /** Lets another replica (or this one) take the run over at once: this process stops walking it. */
  leave(id: number, owner: string): Promise<void>;
  /** Takes over a running reconciliation whose lease has run out (its walker stopped or died), for `owner`. */
  adopt(owner: string, at: Date, leaseMs: number): Promise<Reconciliation | undefined>;
  find(id: number): Promise<Reconciliation | undefined>;
  latest(): Promise<Reconciliation | undefined>;
  list(after: number, limit: number): Promise<Reconciliation[]>;
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

/** The columns a save writes: where the walk is, its counts and findings, its lease, and how it ended, if it did. */
export function savedColumns(
  row: Pick<ReconciliationRow, 'findings'>,
  progress: ReconciliationProgress,
  at: Date,
  leaseUntil: string,
  end?: ReconciliationEnd,
) {
  return {
    position: progress.position,
    ...progress.counts,
    findings: keptFindings(row.findings, progress.findings),
    lease_until: leaseUntil,
    updated_at: at.toISOString(),
    status: end?.status ?? ('running' as const),
    error: end?.status === 'failed' ? end.error : null,
    finished_at: end ? at.toISOString() : null,
  };
}

export const leaseEnd = (at: Date, leaseMs: number): string => new Date(at.getTime() + leaseMs).toISOString();
