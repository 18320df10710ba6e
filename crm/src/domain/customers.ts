import { AppError, conflict, currentTraceparent, notFound } from '@welcome/common';
import type { CustomerStore } from '../store/customers/customer-store.js';
import type { CustomerFeed } from './customer-feed.js';
import type { Customer } from './model.js';
import { customerCreatedEvent } from './webhooks.js';

export interface CustomerDeps {
  store: CustomerStore;
  feed: CustomerFeed;
  now: () => Date;
  /** Told of each customer committed, after the commit (metrics, the webhook dispatcher). */
  onRegistered?: (customer: Customer) => void;
  /** MAX_HELD_POLLS: long polls held at once; one more is refused at once with a 503. */
  maxHeldPolls: number;
}

/** Seconds a long poll refused for being one too many is told to wait. */
export const HELD_POLLS_RETRY_AFTER_S = 5;

/** Stores the customer and, in the same commit, its `customer.created` event for every webhook endpoint. */
export async function registerCustomer(deps: CustomerDeps, input: { name: string; email: string }): Promise<Customer> {
  const customer = await deps.store.insert(
    { ...input, createdAt: deps.now().toISOString(), traceparent: currentTraceparent() },
    customerCreatedEvent,
  );
  if (!customer) throw conflict('email-taken', `A customer with the email ${input.email} already exists.`);
  deps.feed.committed(customer.id);
  deps.onRegistered?.(customer);
  return customer;
}

export async function getCustomer(deps: CustomerDeps, id: number): Promise<Customer> {
  const customer = await deps.store.findById(id);
  if (!customer) throw notFound(`There is no customer ${id}.`);
  return customer;
}

/**
 * The customers after `after`; when there are none yet and `waitMs` is given, the answer waits
 * for the first one committed (long polling), or until `waitMs` passes or `until` aborts.
 */
export async function listCustomers(
  deps: CustomerDeps,
  after: number,
  limit: number,
  waitMs = 0,
  until?: AbortSignal,
): Promise<Customer[]> {
  const found = await deps.store.listAfter(after, limit);
  if (found.length > 0 || waitMs <= 0) return found;
  if (deps.feed.held() >= deps.maxHeldPolls) {
    throw new AppError(
      503,
      'too-many-long-polls',
      `${deps.maxHeldPolls} long polls are held already (MAX_HELD_POLLS); ask again shortly.`,
      {
        headers: { 'Retry-After': String(HELD_POLLS_RETRY_AFTER_S) },
      },
    );
  }
  await deps.feed.waitForCustomerAfter(after, waitMs, until);
  return deps.store.listAfter(after, limit);
}
