import type { Db, StorageGuard } from '@welcome/common';
import { journeyRow, toRecordedStep, type JourneyStepRow, type JourneyStore } from './journey-store.js';

/** The journeys in a SQLite file. */
export function createSqliteJourneyStore(db: Db, storage: StorageGuard): JourneyStore {
  // One statement for any number of steps, given as one JSON array of rows: no limit on bound
  // parameters to mind, and one prepared statement whatever the size of the group.
  const insert = db.prepare<[string]>(`
    INSERT INTO journey_steps (customer_id, at, kind, detail, trace_id)
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) ORDER BY key
  `);
  const stepsOf = db.prepare<[number], JourneyStepRow>(
    'SELECT kind, at, detail, trace_id FROM journey_steps WHERE customer_id = ? ORDER BY at, id',
  );
  const prune = db.prepare<[string, number]>(
    'DELETE FROM journey_steps WHERE id IN (SELECT id FROM journey_steps WHERE at < ? ORDER BY at LIMIT ?)',
  );

  return {
    async record(entries) {
      if (entries.length > 0) storage.write('recordJourney', () => insert.run(JSON.stringify(entries.map(journeyRow))));
    },
    stepsOf: async (customerId) => stepsOf.all(customerId).map(toRecordedStep),
    prune: async (before, limit) => storage.write('pruneJourneys', () => prune.run(before, limit).changes),
  };
}
