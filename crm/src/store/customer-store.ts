import { isUniqueViolation, migrate, type Db, type Schema, type StorageGuard } from '@welcome/common';

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

/** The CRM's database; each step is applied once, in order, and recorded in the file. */
export const crmSchema: Schema = {
  applicationId: 0x7763726d, // "wcrm"
  ownTable: 'customers',
  migrations: [
    // AUTOINCREMENT: ids never come back after a delete, which is what makes `after=` a safe cursor.
    // email_key holds the lower-cased email: SQLite's NOCASE folds ASCII only.
    `CREATE TABLE IF NOT EXISTS customers (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      email TEXT NOT NULL,
      email_key TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL
    ) STRICT;`,
  ],
};

export function createCustomerStore(db: Db, storage: StorageGuard): CustomerStore {
  migrate(db, crmSchema);
  const insert = db.prepare<[string, string, string, string], CustomerRow>(
    'INSERT INTO customers (name, email, email_key, created_at) VALUES (?, ?, ?, ?) RETURNING *',
  );
  const byId = db.prepare<[number], CustomerRow>('SELECT * FROM customers WHERE id = ?');
  const after = db.prepare<[number, number], CustomerRow>('SELECT * FROM customers WHERE id > ? ORDER BY id LIMIT ?');
  // In an explicit transaction, a commit that fails (a full disk) throws: in autocommit, .get()
  // on INSERT ... RETURNING hands back the row even then, and never lets SQLite checkpoint.
  const insertCommitted = db.transaction((customer: NewCustomer) =>
    toCustomer(insert.get(customer.name, customer.email, customer.email.toLowerCase(), customer.createdAt)!),
  );

  return {
    insert(customer) {
      try {
        return storage.write('insert customer', () => insertCommitted.immediate(customer));
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
