import type { ServiceDatabase } from '@welcome/common';
import { createPostgresCustomerStore } from './postgres-customer-store.js';
import { createSqliteCustomerStore } from './sqlite-customer-store.js';

export interface Customer {
  id: number;
  name: string;
  email: string;
  createdAt: string;
  /** The W3C trace context the customer was created in, when traces are on: where its journey's trace begins. */
  traceparent?: string;
}

export interface NewCustomer {
  name: string;
  email: string;
  createdAt: string;
  traceparent?: string | undefined;
}

export class EmailTakenError extends Error {
  constructor(email: string) {
    super(`The email ${email} is already taken`);
    this.name = 'EmailTakenError';
  }
}

/** Told of customers committed by another replica, which this one's own inserts cannot report. */
export interface CommitWatcher {
  /** Customers up to `highestId` are committed. */
  committed(highestId: number): void;
  /** News of commits may have been lost (the connection that hears it came back): look for yourself. */
  missed(): void;
}

export interface CustomerStore {
  /**
   * Commits the customer, with a `customer.created` message for every webhook endpoint, before
   * resolving; rejects with EmailTakenError when the email is in use. Customers asked for while
   * a commit is being made are committed together, in one transaction, and a taken email refuses
   * that customer alone. Ids become visible in id order, on every replica: a reader that has
   * seen id N never later finds a new customer below N.
   */
  insert(customer: NewCustomer): Promise<Customer>;
  findById(id: number): Promise<Customer | undefined>;
  /** Up to `limit` customers with an id above `after`, by id ascending. */
  listAfter(after: number, limit: number): Promise<Customer[]>;
  /** The highest id committed; 0 before the first customer. */
  highestId(): Promise<number>;
  /** Tells `watcher` of commits made elsewhere until closed; a SQLite file has no elsewhere. */
  watchCommits(watcher: CommitWatcher): { close(): Promise<void> };
}

export interface CustomerRow {
  id: number;
  name: string;
  email: string;
  email_key: string;
  created_at: string;
  traceparent: string | null;
}

export const toCustomer = (row: CustomerRow): Customer => ({
  id: row.id,
  name: row.name,
  email: row.email,
  createdAt: row.created_at,
  ...(row.traceparent === null ? {} : { traceparent: row.traceparent }),
});

/** What makes two emails the same: lower-cased by JavaScript, not by the database, so both backends agree. */
export const emailKey = (email: string): string => email.toLowerCase();

/** The body of every attempt to send a customer's `customer.created` message, made once and stored. */
export const customerCreatedEvent = (customer: Customer): string =>
  JSON.stringify({ type: 'customer.created', timestamp: customer.createdAt, data: customer });

/** The customer store on the service's database, whichever it is. */
export function createCustomerStore(database: ServiceDatabase): CustomerStore {
  return database.kind === 'sqlite'
    ? createSqliteCustomerStore(database.db, database.storage)
    : createPostgresCustomerStore(database.pg);
}
