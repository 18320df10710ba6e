import type { Db, StorageGuard } from '@welcome/common';
import type {
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

const INSERT = `
  INSERT INTO reconciliations
    (status, from_id, to_id, repair, open_ended, position, owner, lease_until, started_at, updated_at)
  VALUES ('running', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`;

const UPDATE = `
  UPDATE reconciliations SET position = @position, missing = @missing, mismatched = @mismatched,
    orphaned = @orphaned, repaired = @repaired, findings = @findings, lease_until = @lease_until,
    updated_at = @updated_at, status = @status, error = @error, finished_at = @finished_at
  WHERE id = @id AND owner = @owner AND status = 'running'`;

/** The reconciliations in a SQLite file, which one process owns. */
export function createSqliteReconciliationStore(db: Db, storage: StorageGuard): ReconciliationStore {
  // One process owns the file: a walk still marked running was its previous process's, and is
  // free to be taken over at once.
  db.prepare("UPDATE reconciliations SET lease_until = '' WHERE status = 'running'").run();
  const byId = db.prepare<[number], ReconciliationRow>('SELECT * FROM reconciliations WHERE id = ?');
  const running = db.prepare<[], ReconciliationRow>("SELECT * FROM reconciliations WHERE status = 'running'");
  const latest = db.prepare<[], ReconciliationRow>('SELECT * FROM reconciliations ORDER BY id DESC LIMIT 1');
  const after = db.prepare<[number, number], ReconciliationRow>(
    'SELECT * FROM reconciliations WHERE id > ? ORDER BY id LIMIT ?',
  );
  const insert = db.prepare<
    [number, number, number, number, number, string, string, string, string],
    ReconciliationRow
  >(INSERT);
  const update = db.prepare<Record<string, unknown>>(UPDATE);
  const adopt = db.prepare<[string, string, string], ReconciliationRow>(
    "UPDATE reconciliations SET owner = ?, lease_until = ? WHERE status = 'running' AND lease_until <= ? RETURNING *",
  );
  const leave = db.prepare<[number, string]>(
    "UPDATE reconciliations SET lease_until = '' WHERE id = ? AND owner = ? AND status = 'running'",
  );

  const start = db.transaction((range: ReconciliationRange, owner: string, at: Date, leaseMs: number) => {
    const current = running.get();
    if (current) return { started: false, run: toReconciliation(current) };
    const time = at.toISOString();
    const row = insert.get(
      range.fromId,
      range.toId,
      range.repair ? 1 : 0,
      range.openEnded ? 1 : 0,
      range.fromId - 1,
      owner,
      leaseEnd(at, leaseMs),
      time,
      time,
    )!;
    return { started: true, run: toReconciliation(row) };
  });
  const save = db.transaction(
    (
      id: number,
      owner: string,
      progress: ReconciliationProgress,
      at: Date,
      leaseUntil: string,
      end?: ReconciliationEnd,
    ) => {
      const row = byId.get(id);
      if (!row || row.owner !== owner || row.status !== 'running') return false;
      update.run({ id, owner, ...savedColumns(row, progress, at, leaseUntil, end) });
      return true;
    },
  );

  return {
    start: async (range, owner, at, leaseMs) =>
      storage.write('startReconciliation', () => start.immediate(range, owner, at, leaseMs)),
    save: async (id, owner, progress, at, leaseMs) =>
      storage.write('saveReconciliation', () => save.immediate(id, owner, progress, at, leaseEnd(at, leaseMs))),
    async finish(id, owner, progress, end, at) {
      storage.write('finishReconciliation', () => save.immediate(id, owner, progress, at, '', end));
    },
    leave: async (id, owner) => void storage.write('leaveReconciliation', () => leave.run(id, owner)),
    async adopt(owner, at, leaseMs) {
      const row = storage.write('adoptReconciliation', () => adopt.get(owner, leaseEnd(at, leaseMs), at.toISOString()));
      return row && toReconciliation(row);
    },
    async find(id) {
      const row = byId.get(id);
      return row && toReconciliation(row);
    },
    async latest() {
      const row = latest.get();
      return row && toReconciliation(row);
    },
    list: async (afterId, limit) => after.all(afterId, limit).map(toReconciliation),
  };
}
