import type { Db, StorageGuard } from '@welcome/common';
import type { Delivery } from '../../domain/model/delivery.js';
import type { NewDeadLetter } from '../../domain/model/dead-letter.js';
import { sqliteCursor } from '../deliveries/sqlite-cursor.js';
import { letterColumns, toDeadLetter, type DeadLetterRow, type DeadLetterStore } from './dead-letter-store.js';

/** The dead letters in a SQLite file. */
export function createSqliteDeadLetterStore(db: Db, storage: StorageGuard): DeadLetterStore {
  const cursor = sqliteCursor(db);
  const upsert = db.prepare<[string, number | null, string, number | null, string, string, string], DeadLetterRow>(`
    INSERT INTO dead_letters (letter_key, customer_id, customer, status, reason, first_failed_at, last_failed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (letter_key) DO UPDATE SET
      customer = excluded.customer, status = excluded.status, reason = excluded.reason,
      attempts = attempts + 1, last_failed_at = excluded.last_failed_at
    RETURNING *
  `);
  const byId = db.prepare<[number], DeadLetterRow>('SELECT * FROM dead_letters WHERE id = ?');
  const after = db.prepare<[number, number], DeadLetterRow>(
    'SELECT * FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?',
  );
  const remove = db.prepare<[number]>('DELETE FROM dead_letters WHERE id = ?');
  const deadLettered = db
    .prepare<[number], number>('SELECT EXISTS (SELECT 1 FROM dead_letters WHERE customer_id = ?)')
    .pluck();

  const record = db.transaction((letter: NewDeadLetter, at: string, passCursor: boolean) => {
    const { key, customer, reason } = letterColumns(letter);
    const row = upsert.get(key, letter.customerId, customer, letter.status, reason, at, at)!;
    if (letter.customerId !== null) cursor.move(passCursor ? letter.customerId : 0);
    return toDeadLetter(row);
  });
  // A replayed letter delivered ahead of the cursor counts as confirmed, so the cursor can pass it.
  const resolve = db.transaction((id: number, delivery: Omit<Delivery, 'at'>, at: string) => {
    remove.run(id);
    cursor.recordConfirmed([{ delivery, at }]);
  });

  return {
    record: async (letter, at, options = {}) =>
      storage.write('recordDeadLetter', () => record.immediate(letter, at.toISOString(), options.moveCursor ?? true)),
    async find(id) {
      const row = byId.get(id);
      return row && toDeadLetter(row);
    },
    list: async (afterId, limit) => after.all(afterId, limit).map(toDeadLetter),
    resolve: async (id, delivery, at) =>
      storage.write('resolveDeadLetter', () => resolve.immediate(id, delivery, at.toISOString())),
    deadLetteredAmong: async (customerIds) =>
      new Set(customerIds.filter((customerId) => deadLettered.get(customerId) === 1)),
  };
}
