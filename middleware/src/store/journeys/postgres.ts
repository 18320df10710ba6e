import type { Postgres } from '@welcome/common';
import { journeyRow, toRecordedStep, type JourneyStepRow, type JourneyStore } from './journey-store.js';

const INSERT = `
  INSERT INTO journey_steps (customer_id, at, kind, detail, trace_id)
  SELECT customer_id, at, kind, detail, trace_id
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
    WITH ORDINALITY AS s (customer_id, at, kind, detail, trace_id, n)
  ORDER BY n`;

// Replicas prune at the same hours: each skips the steps another is deleting.
const PRUNE = `
  WITH pruned AS (
    DELETE FROM journey_steps WHERE id IN (
      SELECT id FROM journey_steps WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED
    ) RETURNING 1
  )
  SELECT COUNT(*) AS n FROM pruned`;

/** The journeys on a PostgreSQL server, shared by every replica. */
export function createPostgresJourneyStore(pg: Postgres): JourneyStore {
  return {
    async record(entries) {
      if (entries.length === 0) return;
      const rows = entries.map(journeyRow);
      await pg.query(
        INSERT,
        [0, 1, 2, 3, 4].map((column) => rows.map((row) => row[column])),
      );
    },
    async stepsOf(customerId) {
      const rows = await pg.query<JourneyStepRow>(
        'SELECT kind, at, detail, trace_id FROM journey_steps WHERE customer_id = $1 ORDER BY at, id',
        [customerId],
      );
      return rows.map(toRecordedStep);
    },
    async prune(before, limit) {
      const [pruned] = await pg.query<{ n: number }>(PRUNE, [before, limit]);
      return pruned!.n;
    },
  };
}
