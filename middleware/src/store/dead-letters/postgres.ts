import type { Postgres } from '@welcome/common';
import { moveCursor, recordConfirmed } from '../deliveries/postgres-cursor.js';
import { letterColumns, toDeadLetter, type DeadLetterRow, type DeadLetterStore } from './dead-letter-store.js';

const UPSERT = `
  INSERT INTO dead_letters (letter_key, customer_id, customer, status, reason, first_failed_at, last_failed_at)
  VALUES ($1, $2, $3, $4, $5, $6, $6)
  ON CONFLICT (letter_key) DO UPDATE SET
    customer = excluded.customer, status = excluded.status, reason = excluded.reason,
    attempts = dead_letters.attempts + 1, last_failed_at = excluded.last_failed_at
  RETURNING *`;

/** The dead letters on a PostgreSQL server, shared by every replica. */
export function createPostgresDeadLetterStore(pg: Postgres): DeadLetterStore {
  return {
    record: (letter, at, options = {}) =>
      pg.transaction(async (tx) => {
        const { key, customer, reason } = letterColumns(letter);
        const [row] = await tx.query<DeadLetterRow>(UPSERT, [
          key,
          letter.customerId,
          customer,
          letter.status,
          reason,
          at.toISOString(),
        ]);
        if (letter.customerId !== null) await moveCursor(tx, (options.moveCursor ?? true) ? letter.customerId : 0);
        return toDeadLetter(row!);
      }),
    async find(id) {
      const [row] = await pg.query<DeadLetterRow>('SELECT * FROM dead_letters WHERE id = $1', [id]);
      return row && toDeadLetter(row);
    },
    async list(after, limit) {
      const rows = await pg.query<DeadLetterRow>('SELECT * FROM dead_letters WHERE id > $1 ORDER BY id LIMIT $2', [
        after,
        limit,
      ]);
      return rows.map(toDeadLetter);
    },
    resolve: (id, delivery, at) =>
      pg.transaction(async (tx) => {
        await tx.query('DELETE FROM dead_letters WHERE id = $1', [id]);
        await recordConfirmed(tx, [{ delivery, at: at.toISOString() }]);
      }),
    async deadLetteredAmong(customerIds) {
      const rows = await pg.query<{ customer_id: number }>(
        'SELECT customer_id FROM dead_letters WHERE customer_id = ANY($1::bigint[])',
        [customerIds],
      );
      return new Set(rows.map((row) => row.customer_id));
    },
  };
}
