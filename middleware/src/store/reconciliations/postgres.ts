import type { Postgres } from '@welcome/common';
import type {
  Reconciliation,
  ReconciliationEnd,
  ReconciliationProgress,
  ReconciliationRange,
} from '../../domain/model/reconciliation.js';
import {
  leaseEnd,
  savedColumns,
  toReconciliation,
  type ReconciliationRow,
  type ReconciliationStore,
} from './reconciliation-store.js';

// The partial unique index lets one run at a time: an insert beside a running one does nothing.
const START = `
  INSERT INTO reconciliations
    (status, from_id, to_id, repair, open_ended, position, owner, lease_until, started_at, updated_at)
  VALUES ('running', $1, $2, $3, $8, $4, $5, $6, $7, $7)
  ON CONFLICT (status) WHERE status = 'running' DO NOTHING
  RETURNING *`;

const SAVE = `
  UPDATE reconciliations SET position = $2, missing = $3, mismatched = $4, orphaned = $5, repaired = $6,
    findings = $7, lease_until = $8, updated_at = $9, status = $10, error = $11, finished_at = $12
  WHERE id = $1`;

/** The reconciliations on a PostgreSQL server: one running at a time among all the replicas. */
export function createPostgresReconciliationStore(pg: Postgres): ReconciliationStore {
  return {
    start: (range, owner, at, leaseMs) => startRun(pg, range, owner, at, leaseMs),
    save: (id, owner, progress, at, leaseMs) => save(pg, id, owner, progress, at, leaseEnd(at, leaseMs)),
    async finish(id, owner, progress, end, at) {
      await save(pg, id, owner, progress, at, '', end);
    },
    async leave(id, owner) {
      await pg.query(
        "UPDATE reconciliations SET lease_until = '' WHERE id = $1 AND owner = $2 AND status = 'running'",
        [id, owner],
      );
    },
    adopt: (owner, at, leaseMs) =>
      one(
        pg,
        "UPDATE reconciliations SET owner = $1, lease_until = $2 WHERE status = 'running' AND lease_until <= $3 " +
          'RETURNING *',
        [owner, leaseEnd(at, leaseMs), at.toISOString()],
      ),
    find: (id) => one(pg, 'SELECT * FROM reconciliations WHERE id = $1', [id]),
    latest: () => one(pg, 'SELECT * FROM reconciliations ORDER BY id DESC LIMIT 1'),
    async list(after, limit) {
      const rows = await pg.query<ReconciliationRow>(
        'SELECT * FROM reconciliations WHERE id > $1 ORDER BY id LIMIT $2',
        [after, limit],
      );
      return rows.map(toReconciliation);
    },
  };
}

async function one(pg: Postgres, sql: string, values: unknown[] = []): Promise<Reconciliation | undefined> {
  const [row] = await pg.query<ReconciliationRow>(sql, values);
  return row && toReconciliation(row);
}

/** Starts a run, or tells the one already running. */
async function startRun(
  pg: Postgres,
  range: ReconciliationRange,
  owner: string,
  at: Date,
  leaseMs: number,
): Promise<{ started: boolean; run: Reconciliation }> {
  for (;;) {
    const started = await one(pg, START, [
      range.fromId,
      range.toId,
      range.repair,
      range.fromId - 1,
      owner,
      leaseEnd(at, leaseMs),
      at.toISOString(),
      range.openEnded,
    ]);
    if (started) return { started: true, run: started };
    const running = await one(pg, "SELECT * FROM reconciliations WHERE status = 'running'");
    // Otherwise the running one ended between the two statements: try again.
    if (running) return { started: false, run: running };
  }
}

/** Saves a walk's progress (and its end, if given) when the run is still this owner's running one. */
function save(
  pg: Postgres,
  id: number,
  owner: string,
  progress: ReconciliationProgress,
  at: Date,
  leaseUntil: string,
  end?: ReconciliationEnd,
): Promise<boolean> {
  return pg.transaction(async (tx) => {
    const [row] = await tx.query<{ findings: string }>(
      "SELECT findings FROM reconciliations WHERE id = $1 AND owner = $2 AND status = 'running' FOR UPDATE",
      [id, owner],
    );
    if (!row) return false;
    const saved = savedColumns(row, progress, at, leaseUntil, end);
    await tx.query(SAVE, [
      id,
      saved.position,
      saved.missing,
      saved.mismatched,
      saved.orphaned,
      saved.repaired,
      saved.findings,
      saved.lease_until,
      saved.updated_at,
      saved.status,
      saved.error,
      saved.finished_at,
    ]);
    return true;
  });
}
