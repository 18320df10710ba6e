import { groupCommit, isUniqueViolation, type Db, type StorageGuard } from '@welcome/common';
import type { Customer } from '../../domain/model.js';
import { emailKey, toCustomer, type Asked, type CustomerRow, type CustomerStore } from './customer-store.js';

/**
 * Customers in a SQLite file, which one process owns: ids are handed out and committed in order by
 * that process alone. Customers asked for in the same turn are committed together (one sync to
 * disk), each in a savepoint of its own, so that one taken email refuses that customer alone.
 */
export function createSqliteCustomerStore(db: Db, storage: StorageGuard): CustomerStore {
  const insert = db.prepare<[string, string, string, string, string | null], CustomerRow>(
    'INSERT INTO customers (name, email, email_key, created_at, traceparent) VALUES (?, ?, ?, ?, ?) RETURNING *',
  );
  const byId = db.prepare<[number], CustomerRow>('SELECT * FROM customers WHERE id = ?');
  const after = db.prepare<[number, number], CustomerRow>('SELECT * FROM customers WHERE id > ? ORDER BY id LIMIT ?');
  const highest = db.prepare<[], { id: number }>('SELECT COALESCE(MAX(id), 0) AS id FROM customers');
  // A disabled endpoint's message is kept with no next attempt; a throttled one's waits for its Retry-After.
  const enqueue = db.prepare<{ eventType: string; customerId: number; payload: string; at: string }>(`
    INSERT INTO webhook_messages (endpoint_id, event_type, customer_id, payload, next_attempt_at)
    SELECT id, @eventType, @customerId, @payload,
      CASE WHEN disabled_at IS NULL THEN MAX(@at, COALESCE(throttled_until, '')) END
    FROM webhook_endpoints
  `);
  // In an explicit transaction, a commit that fails (a full disk) throws: in autocommit, .get()
  // on INSERT ... RETURNING hands back the row even then, and never lets SQLite checkpoint.
  const insertCommitted = db.transaction(({ customer, eventOf }: Asked) => {
    const created = toCustomer(
      insert.get(
        customer.name,
        customer.email,
        emailKey(customer.email),
        customer.createdAt,
        customer.traceparent ?? null,
      )!,
    );
    const { eventType, payload } = eventOf(created);
    enqueue.run({ eventType, customerId: created.id, payload, at: created.createdAt });
    return created;
  });

  // Inside the batch's transaction, insertCommitted runs as a savepoint: a taken email rolls back
  // that customer alone (answered undefined); anything else (a full disk) fails the whole batch.
  const insertAll = db.transaction((batch: Asked[]) =>
    batch.map((asked) => {
      try {
        return { ok: true as const, value: insertCommitted(asked) };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        return { ok: true as const, value: undefined };
      }
    }),
  );
  const insertTogether = groupCommit<Asked, Customer | undefined>((batch) =>
    storage.write('insert customer', () => insertAll.immediate(batch)),
  );

  return {
    insert: (customer, eventOf) => insertTogether({ customer, eventOf }),
    async findById(id) {
      const row = byId.get(id);
      return row && toCustomer(row);
    },
    listAfter: async (afterId, limit) => after.all(afterId, limit).map(toCustomer),
    highestId: async () => highest.get()!.id,
    watchCommits: () => ({ close: async () => undefined }),
  };
}
