import type { Logger } from '@welcome/common';
import type { CrmCustomer } from '../clients/crm-client.js';
import type { InventoryClient } from '../clients/inventory-client.js';
import type { DeadLetter, DeliveryPath, NewDeadLetter, SyncStore } from '../store/sync-store.js';

/**
 * What became of one customer. `refused` is the Inventory's permanent refusal where there is no
 * dead-letter table to keep it (the Lambda handler); `handledBefore` a customer the cursor had
 * already passed, whose package was confirmed or dead-lettered long ago.
 */
export interface DeliveryResult {
  customerId: number;
  outcome: 'created' | 'alreadyThere' | 'deadLettered' | 'refused' | 'handledBefore';
  packageId?: number;
  deadLetterId?: number;
  /** The Inventory's refusal: its status and answer. */
  status?: number;
  answer?: unknown;
  /** True when this call asked the Inventory nothing: the customer was known, or in flight already. */
  repeat?: boolean;
}

/**
 * The one delivery core, which the poller, the webhook route and the Lambda handler all call.
 * A stateful caller gives the store (outcomes are recorded, known customers are not asked for
 * again) and the map of customers in flight (none is asked for twice at once); the stateless
 * Lambda handler gives neither.
 */
export interface DeliveryDeps {
  inventory: InventoryClient;
  logger: Logger;
  now: () => Date;
  store?: SyncStore;
  inFlight?: Map<number, Promise<DeliveryResult>>;
}

/** Keeps a record that cannot be delivered, logging it the first time (a record sent again is logged at debug). */
export function deadLetter(
  deps: { store: SyncStore; logger: Logger; now: () => Date },
  letter: NewDeadLetter,
  message: string,
  fields: Record<string, unknown>,
  options: { moveCursor: boolean } = { moveCursor: true },
): DeadLetter {
  const stored = deps.store.recordDeadLetter(letter, deps.now(), options);
  deps.logger.log(stored.attempts === 1 ? 'warn' : 'debug', message, { deadLetterId: stored.id, attempts: stored.attempts, ...fields });
  return stored;
}

function fromKnowledge(deps: DeliveryDeps, customerId: number): DeliveryResult | undefined {
  const known = deps.store?.known(customerId);
  if (known === undefined) return undefined;
  if (known.state === 'confirmed') return { customerId, outcome: known.outcome, packageId: known.packageId, repeat: true };
  if (known.state === 'deadLettered') return { customerId, outcome: 'deadLettered', deadLetterId: known.deadLetterId, repeat: true };
  return { customerId, outcome: 'handledBefore', repeat: true };
}

async function askInventory(deps: DeliveryDeps, customer: CrmCustomer, path: DeliveryPath, moveCursor: boolean): Promise<DeliveryResult> {
  const outcome = await deps.inventory.requestPackage({ customerId: customer.id, customerName: customer.name });
  const fields = { customerId: customer.id, customerName: customer.name, via: path };
  if (outcome.kind === 'refused') {
    if (!deps.store) return { customerId: customer.id, outcome: 'refused', status: outcome.status, answer: outcome.answer };
    const letter = deadLetter(
      { store: deps.store, logger: deps.logger, now: deps.now },
      { customerId: customer.id, customer, status: outcome.status, reason: outcome.answer },
      `The Inventory refused customer ${customer.id} with ${outcome.status}; dead-lettered, moving on`,
      { ...fields, status: outcome.status, answer: outcome.answer },
      { moveCursor },
    );
    return { customerId: customer.id, outcome: 'deadLettered', deadLetterId: letter.id, status: outcome.status, answer: outcome.answer };
  }
  deps.store?.recordDelivered(
    { customerId: customer.id, customerName: customer.name, packageId: outcome.packageId, outcome: outcome.kind },
    deps.now(),
    { path, moveCursor },
  );
  deps.logger.info(
    outcome.kind === 'created'
      ? `Welcome package ${outcome.packageId} created for customer ${customer.id}`
      : `Welcome package ${outcome.packageId} was already there for customer ${customer.id}`,
    { ...fields, packageId: outcome.packageId, outcome: outcome.kind },
  );
  return { customerId: customer.id, outcome: outcome.kind, packageId: outcome.packageId };
}

/**
 * Gets one customer's welcome package made, or the refusal kept, at most once however many
 * paths bring the customer: a customer already known is not asked for again, and one in flight
 * is waited for, not asked for twice. With `moveCursor` (the poller, which goes in id order) the
 * cursor moves past the customer in the same commit as the outcome; a webhook's customer may be
 * ahead of others, so its outcome is only remembered. Throws UpstreamUnavailableError, recording
 * nothing, when the Inventory gives no answer.
 */
export async function deliverCustomer(
  deps: DeliveryDeps,
  customer: CrmCustomer,
  path: DeliveryPath,
  options: { moveCursor: boolean } = { moveCursor: false },
): Promise<DeliveryResult> {
  const pending = deps.inFlight?.get(customer.id);
  const known = pending ? undefined : fromKnowledge(deps, customer.id);
  if (pending || known) {
    const result = known ?? { ...(await pending!), repeat: true };
    if (options.moveCursor && result.outcome !== 'refused') deps.store?.advanceCursor(customer.id);
    return result;
  }
  const asking = askInventory(deps, customer, path, options.moveCursor);
  deps.inFlight?.set(customer.id, asking);
  try {
    return await asking;
  } finally {
    deps.inFlight?.delete(customer.id);
  }
}
