import { groupCommit, isUniqueViolation, migrate, type Db, type Settled, type StorageGuard } from '@welcome/common';
import { crmSchema } from './schema.js';

export interface Customer {
  id: number;
  name: string;
  email: string;
  createdAt: string;
}

export interface NewCustomer {
  name: string;
  email: string;
  createdAt: string;
}

export class EmailTakenError extends Error {
  constructor(email: string) {
    super(`The email ${email} is already taken`);
    this.name = 'EmailTakenError';
  }
}

export interface CustomerStore {
  /**
   * Commits the customer, with a `customer.created` message for every webhook endpoint, before
   * resolving; rejects with EmailTakenError when the email is in use. Customers asked for in the
   * same turn are committed together (one sync to disk), each in a savepoint of its own, so that
   * one taken email refuses that customer alone.
   */
  insert(customer: NewCustomer): Promise<Customer>;
  findById(id: number): Customer | undefined;
  /** Up to `limit` customers with an id above `after`, by id ascending. */
  listAfter(after: number, limit: number): Customer[];
}

interface CustomerRow {
  id: number;
  name: string;
  email: string;
  created_at: string;
}

const toCustomer = (row: CustomerRow): Customer => ({
  id: row.id,
  name: row.name,
  email: row.email,
  createdAt: row.created_at,
});

export function createCustomerStore(db: Db, storage: StorageGuard): CustomerStore {
  migrate(db, crmSchema);
  const insert = db.prepare<[string, string, string, string], CustomerRow>(
    'INSERT INTO customers (name, email, email_key, created_at) VALUES (?, ?, ?, ?) RETURNING *',
  );
  const byId = db.prepare<[number], CustomerRow>('SELECT * FROM customers WHERE id = ?');
  const after = db.prepare<[number, number], CustomerRow>('SELECT * FROM customers WHERE id > ? ORDER BY id LIMIT ?');
  const enqueue = db.prepare<[string, number, string, string]>(`
    INSERT INTO webhook_messages (endpoint_id, event_type, customer_id, payload, next_attempt_at)
    SELECT id, ?, ?, ?, ? FROM webhook_endpoints
  `);
  // In an explicit transaction, a commit that fails (a full disk) throws: in autocommit, .get()
  // on INSERT ... RETURNING hands back the row even then, and never lets SQLite checkpoint.
  const insertCommitted = db.transaction((customer: NewCustomer) => {
    const created = toCustomer(insert.get(customer.name, customer.email, customer.email.toLowerCase(), customer.createdAt)!);
    const event = JSON.stringify({ type: 'customer.created', timestamp: created.createdAt, data: created });
    enqueue.run('customer.created', created.id, event, created.createdAt);
    return created;
  });

  // Inside the batch's transaction, insertCommitted runs as a savepoint: a taken email rolls back
  // that customer alone; anything else (a full disk) fails the whole batch.
  const insertAll = db.transaction((batch: NewCustomer[]): Array<Settled<Customer>> =>
    batch.map((customer) => {
      try {
        return { ok: true, value: insertCommitted(customer) };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        return { ok: false, error: new EmailTakenError(customer.email) };
      }
    }),
  );
  const insertTogether = groupCommit<NewCustomer, Customer>((batch) => storage.write('insert customer', () => insertAll.immediate(batch)));

  return {
    insert: insertTogether,
    findById(id) {
      const row = byId.get(id);
      return row && toCustomer(row);
    },
    listAfter(afterId, limit) {
      return after.all(afterId, limit).map(toCustomer);
    },
  };
}
