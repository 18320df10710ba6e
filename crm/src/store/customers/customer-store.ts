import type { Customer, NewCustomer, WebhookEvent } from '../../domain/model.js';

/** Told of customers committed by another replica, which this one's own inserts cannot report. */
export interface CommitWatcher {
  /** Customers up to `highestId` are committed. */
  committed(highestId: number): void;
  /** News of commits may have been lost (the connection that hears it came back): look for yourself. */
  missed(): void;
}

/** What the domain makes of a customer once it has its id: the event every webhook endpoint is sent. */
export type EventOf = (customer: Customer) => WebhookEvent;

export interface CustomerStore {
  /**
   * Commits the customer, with the event `eventOf` makes of it for every webhook endpoint, before
   * resolving; resolves to undefined when the email is in use. Customers asked for while a
   * commit is being made are committed together, in one transaction, and a taken email refuses
   * that customer alone. Ids become visible in id order, on every replica: a reader that has seen
   * id N never later finds a new customer below N.
   */
  insert(customer: NewCustomer, eventOf: EventOf): Promise<Customer | undefined>;
  findById(id: number): Promise<Customer | undefined>;
  /** Up to `limit` customers with an id above `after`, by id ascending. */
  listAfter(after: number, limit: number): Promise<Customer[]>;
  /** The highest id committed; 0 before the first customer. */
  highestId(): Promise<number>;
  /** Tells `watcher` of commits made elsewhere until closed; a SQLite file has no elsewhere. */
  watchCommits(watcher: CommitWatcher): { close(): Promise<void> };
}

/** One customer asked for, as the implementations commit them together. */
export interface Asked {
  customer: NewCustomer;
  eventOf: EventOf;
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
