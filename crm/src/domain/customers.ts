import { conflict, notFound } from '@welcome/common';
import { EmailTakenError, type Customer, type CustomerStore } from '../store/customer-store.js';

export interface CustomerDeps {
  store: CustomerStore;
  now: () => Date;
  /** Told of each customer committed (for metrics). */
  onRegistered?: (customer: Customer) => void;
}

export function registerCustomer(deps: CustomerDeps, input: { name: string; email: string }): Customer {
  try {
    const customer = deps.store.insert({ ...input, createdAt: deps.now().toISOString() });
    deps.onRegistered?.(customer);
    return customer;
  } catch (error) {
    if (error instanceof EmailTakenError) {
      throw conflict('email-taken', `A customer with the email ${input.email} already exists.`);
    }
    throw error;
  }
}

export function getCustomer(deps: CustomerDeps, id: number): Customer {
  const customer = deps.store.findById(id);
  if (!customer) throw notFound(`There is no customer ${id}.`);
  return customer;
}

export function listCustomers(deps: CustomerDeps, after: number, limit: number): Customer[] {
  return deps.store.listAfter(after, limit);
}
