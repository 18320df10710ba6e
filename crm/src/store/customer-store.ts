import { isUniqueViolation, type Db } from '@welcome/common';

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
  /** Commits the customer before returning it; throws EmailTakenError when the email is in use. */
  insert(customer: NewCustomer): Customer;
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

export function createCustomerStore(db: Db): CustomerStore {
  // AUTOINCREMENT: ids never come back after a delete, which is what makes `after=` a safe cursor.
  // email_key holds the lower-cased email: SQLite's NOCASE folds ASCII only.
  db.exec(`
    CREATE TABLE IF NOT EXISTS customers (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      email TEXT NOT NULL,
      email_key TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL
    ) STRICT;
  `);
  const insert = db.prepare<[string, string, string, string], CustomerRow>(
    'INSERT INTO customers (name, email, email_key, created_at) VALUES (?, ?, ?, ?) RETURNING *',
  );
  const byId = db.prepare<[number], CustomerRow>('SELECT * FROM customers WHERE id = ?');
  const after = db.prepare<[number, number], CustomerRow>('SELECT * FROM customers WHERE id > ? ORDER BY id LIMIT ?');

  return {
    insert(customer) {
      try {
        return toCustomer(insert.get(customer.name, customer.email, customer.email.toLowerCase(), customer.createdAt)!);
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError(customer.email);
        throw error;
      }
    },
    findById(id) {
      const row = byId.get(id);
      return row && toCustomer(row);
    },
    listAfter(afterId, limit) {
      return after.all(afterId, limit).map(toCustomer);
    },
  };
}
