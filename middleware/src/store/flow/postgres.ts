import type { Postgres } from '@welcome/common';
import type { Turn } from '../../domain/model/flow.js';
import { heldOf, toFlowState, verdictOf, type FlowRecord, type FlowStore } from './flow-store.js';

// Times as milliseconds since the epoch, as float8 (extract gives numeric, which pg hands over as text).
const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8 AS "${column}"`;

const TIMES = ['paused_at', 'paused_until', 'throttled_until', 'breaker_since', 'breaker_next_probe_at'];

const READ = `
  SELECT ${TIMES.map(epochMs).join(', ')},
    paused_by, paused_reason, throttled_status, breaker_state, breaker_reason, breaker_probe_ms,
    (extract(epoch FROM statement_timestamp()) * 1000)::float8 AS now
  FROM flow_control WHERE id = 1`;

/**
 * The next free slot of the shared rate limit, taken in one statement when nothing holds the asks:
 * the slot is the later of the next free one and now, and the one after it is `$1` ms later (GCRA
 * with no burst: the asks of all replicas together go at most one per interval). Now is the clock
 * when the row is locked (clock_timestamp, not the statement's start, which may be a connection's
 * set-up or a lock's wait earlier), so that the wait is counted from when the answer leaves.
 */
const TAKE_SLOT = `
  UPDATE flow_control
  SET rate_next_slot = GREATEST(rate_next_slot, clock_timestamp()) + $1::float8 * interval '1 millisecond'
  WHERE id = 1
    AND NOT (paused_at IS NOT NULL AND (paused_until IS NULL OR paused_until > statement_timestamp()))
    AND NOT (throttled_until IS NOT NULL AND throttled_until > statement_timestamp())
    AND breaker_state = 'closed'
  RETURNING GREATEST(0, extract(epoch FROM rate_next_slot - clock_timestamp()) * 1000 - $1::float8)::float8 AS wait_ms`;

/** The open breaker's probe, taken by the first to ask once it is due: the others are held until the next. */
const TAKE_PROBE = `
  UPDATE flow_control SET breaker_state = 'halfOpen',
    breaker_next_probe_at = statement_timestamp() + COALESCE(breaker_probe_ms, 0) * interval '1 millisecond'
  WHERE id = 1 AND breaker_state <> 'closed'
    AND (breaker_next_probe_at IS NULL OR breaker_next_probe_at <= statement_timestamp())
  RETURNING breaker_probe_ms`;

type FlowRow = {
  paused_at: number | null;
  paused_until: number | null;
  throttled_until: number | null;
  breaker_since: number | null;
  breaker_next_probe_at: number | null;
  paused_by: string | null;
  paused_reason: string | null;
  throttled_status: number | null;
  breaker_state: FlowRecord['breakerState'];
  breaker_reason: string | null;
  breaker_probe_ms: number | null;
  now: number;
};

const toRecord = (row: FlowRow): FlowRecord => ({
  pausedAt: row.paused_at,
  pausedBy: row.paused_by,
  pausedReason: row.paused_reason,
  pausedUntil: row.paused_until,
  throttledUntil: row.throttled_until,
  throttledStatus: row.throttled_status,
  breakerState: row.breaker_state,
  breakerSince: row.breaker_since,
  breakerReason: row.breaker_reason,
  breakerProbeMs: row.breaker_probe_ms,
  breakerNextProbeAt: row.breaker_next_probe_at,
});

/** Flow control on a PostgreSQL server, one row every replica reads and writes, on the server's clock. */
export function createPostgresFlowStore(pg: Postgres): FlowStore {
  const readRow = async () => (await pg.query<FlowRow>(READ))[0]!;

  const takeTurn = async (ratePerSecond: number | undefined): Promise<Turn> => {
    if (ratePerSecond !== undefined) {
      const [slot] = await pg.query<{ wait_ms: number }>(TAKE_SLOT, [1000 / ratePerSecond]);
      if (slot) return { verdict: 'go', waitMs: slot.wait_ms, probeMs: null };
    }
    const row = await readRow();
    const verdict = verdictOf(toRecord(row), row.now);
    if (verdict.verdict === 'held') return verdict;
    if (verdict.verdict === 'free') {
      // Freed between the two statements: take the slot again.
      return ratePerSecond === undefined ? { verdict: 'go', waitMs: 0, probeMs: null } : takeTurn(ratePerSecond);
    }
    const [probe] = await pg.query<{ breaker_probe_ms: number | null }>(TAKE_PROBE);
    if (probe) return { verdict: 'go', waitMs: 0, probeMs: probe.breaker_probe_ms ?? 0 };
    return takeTurn(ratePerSecond);
  };

  return {
    takeTurn,
    async check() {
      const row = await readRow();
      return heldOf(toRecord(row), row.now);
    },
    async read() {
      const row = await readRow();
      return toFlowState(toRecord(row), row.now);
    },
    async throttle(status, retryAfterMs) {
      await pg.query(
        // The status said is that of the Retry-After that holds: the one that ends last.
        `UPDATE flow_control SET
           throttled_status = CASE WHEN throttled_until IS NULL OR throttled_until < until.at THEN $1
                                   ELSE throttled_status END,
           throttled_until = GREATEST(throttled_until, until.at)
         FROM (SELECT statement_timestamp() + $2::float8 * interval '1 millisecond' AS at) until
         WHERE id = 1`,
        [status, retryAfterMs],
      );
    },
    async pause({ by, reason, until }) {
      await pg.query(
        'UPDATE flow_control SET paused_at = statement_timestamp(), paused_by = $1, paused_reason = $2, ' +
          'paused_until = $3 WHERE id = 1',
        [by, reason, until],
      );
    },
    async resume() {
      await pg.query(
        'UPDATE flow_control SET paused_at = NULL, paused_by = NULL, paused_reason = NULL, paused_until = NULL ' +
          'WHERE id = 1',
      );
    },
    async openBreaker(reason, probeMs) {
      await pg.query(
        `UPDATE flow_control SET breaker_state = 'open',
           breaker_since = CASE WHEN breaker_state = 'closed' THEN statement_timestamp() ELSE breaker_since END,
           breaker_reason = $1, breaker_probe_ms = $2::integer,
           breaker_next_probe_at = statement_timestamp() + $2::integer * interval '1 millisecond'
         WHERE id = 1`,
        [reason, probeMs],
      );
    },
    async closeBreaker() {
      await pg.query(
        "UPDATE flow_control SET breaker_state = 'closed', breaker_since = NULL, breaker_reason = NULL, " +
          'breaker_probe_ms = NULL, breaker_next_probe_at = NULL WHERE id = 1',
      );
    },
  };
}
