import type { Db, StorageGuard } from '@welcome/common';
import type { Turn } from '../../domain/model/flow.js';
import { closedBreaker, heldOf, toFlowState, verdictOf, type FlowRecord, type FlowStore } from './flow-store.js';

interface FlowRow {
  paused_at: string | null;
  paused_by: string | null;
  paused_reason: string | null;
  paused_until: string | null;
  throttled_until: string | null;
  throttled_status: number | null;
  breaker_state: FlowRecord['breakerState'];
  breaker_since: string | null;
  breaker_reason: string | null;
  breaker_probe_ms: number | null;
  breaker_next_probe_at: string | null;
}

const ms = (at: string | null) => (at === null ? null : Date.parse(at));
const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

/** The state as the file keeps it. */
function readRecord(db: Db): FlowRecord {
  const row = db.prepare<[], FlowRow>('SELECT * FROM flow_control WHERE id = 1').get()!;
  return {
    pausedAt: ms(row.paused_at),
    pausedBy: row.paused_by,
    pausedReason: row.paused_reason,
    pausedUntil: ms(row.paused_until),
    throttledUntil: ms(row.throttled_until),
    throttledStatus: row.throttled_status,
    breakerState: row.breaker_state,
    breakerSince: ms(row.breaker_since),
    breakerReason: row.breaker_reason,
    breakerProbeMs: row.breaker_probe_ms,
    breakerNextProbeAt: ms(row.breaker_next_probe_at),
  };
}

/** Writes the whole state in one statement. */
function writer(db: Db, storage: StorageGuard): (next: FlowRecord) => void {
  const update = db.prepare<
    [
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      number | null,
      string,
      string | null,
      string | null,
      number | null,
      string | null,
    ]
  >(`
    UPDATE flow_control SET paused_at = ?, paused_by = ?, paused_reason = ?, paused_until = ?,
      throttled_until = ?, throttled_status = ?, breaker_state = ?, breaker_since = ?, breaker_reason = ?,
      breaker_probe_ms = ?, breaker_next_probe_at = ?
    WHERE id = 1
  `);
  return (next) =>
    void storage.write('flowControl', () =>
      update.run(
        iso(next.pausedAt),
        next.pausedBy,
        next.pausedReason,
        iso(next.pausedUntil),
        iso(next.throttledUntil),
        next.throttledStatus,
        next.breakerState,
        iso(next.breakerSince),
        next.breakerReason,
        next.breakerProbeMs,
        iso(next.breakerNextProbeAt),
      ),
    );
}

/**
 * Flow control in a SQLite file, which one process owns: the state is kept in memory and written
 * through at each change (so a pause or a Retry-After outlives a restart); the rate limit's slots
 * are the process's own.
 */
export function createSqliteFlowStore(db: Db, storage: StorageGuard): FlowStore {
  const record = readRecord(db);
  const write = writer(db, storage);
  const save = (change: Partial<FlowRecord>) => {
    const next = { ...record, ...change };
    write(next);
    Object.assign(record, next);
  };
  let nextSlot = 0;

  return {
    async takeTurn(ratePerSecond) {
      const now = Date.now();
      const verdict = verdictOf(record, now);
      if (verdict.verdict === 'held') return verdict;
      const probeMs = verdict.verdict === 'probe' ? (record.breakerProbeMs ?? 0) : null;
      if (probeMs !== null) save({ breakerState: 'halfOpen', breakerNextProbeAt: now + probeMs });
      let waitMs = 0;
      if (ratePerSecond !== undefined) {
        const slot = Math.max(nextSlot, now);
        nextSlot = slot + 1000 / ratePerSecond;
        waitMs = slot - now;
      }
      return { verdict: 'go', waitMs, probeMs } satisfies Turn;
    },
    check: async () => heldOf(record, Date.now()),
    read: async () => toFlowState(record, Date.now()),
    async throttle(status, retryAfterMs) {
      const until = Date.now() + retryAfterMs;
      if (record.throttledUntil === null || until > record.throttledUntil)
        save({ throttledUntil: until, throttledStatus: status });
    },
    async pause({ by, reason, until }) {
      save({ pausedAt: Date.now(), pausedBy: by, pausedReason: reason, pausedUntil: ms(until) });
    },
    async resume() {
      save({ pausedAt: null, pausedBy: null, pausedReason: null, pausedUntil: null });
    },
    async openBreaker(reason, probeMs) {
      const now = Date.now();
      save({
        breakerState: 'open',
        breakerSince: record.breakerState === 'closed' ? now : record.breakerSince,
        breakerReason: reason,
        breakerProbeMs: probeMs,
        breakerNextProbeAt: now + probeMs,
      });
    },
    async closeBreaker() {
      save(closedBreaker);
    },
  };
}
