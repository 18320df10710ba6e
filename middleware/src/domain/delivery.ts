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

/**
 * Keeps a record that cannot be delivered, logging it the first time (a record sent again is
 * logged at debug). The cursor moves over it once every customer before it is handled too.
 */
export function deadLetter(
  deps: { store: SyncStore; logger: Logger; now: () => Date },
  letter: NewDeadLetter,
  message: string,
  fields: Record<string, unknown>,
): DeadLetter {
  const stored = deps.store.recordDeadLetter(letter, deps.now(), { moveCursor: false });
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

/** A customer the Inventory has answered for, and the commit that records the answer. */
export interface Answered {
  result: DeliveryResult;
  /** Settles once the outcome is on disk (at once when there is nothing to record); rejects if that write fails. */
  committed: Promise<void>;
}

const nothingToCommit = Promise.resolve();

async function askInventory(deps: DeliveryDeps, customer: CrmCustomer, path: DeliveryPath): Promise<Answered> {
  const outcome = await deps.inventory.requestPackage({ customerId: customer.id, customerName: customer.name });
  const fields = { customerId: customer.id, customerName: customer.name, via: path };
  if (outcome.kind === 'refused') {
    const refusal = { customerId: customer.id, status: outcome.status, answer: outcome.answer };
    if (!deps.store) return { result: { ...refusal, outcome: 'refused' }, committed: nothingToCommit };
    const letter = deadLetter(
      { store: deps.store, logger: deps.logger, now: deps.now },
      { customerId: customer.id, customer, status: outcome.status, reason: outcome.answer },
      `The Inventory refused customer ${customer.id} with ${outcome.status}; dead-lettered, moving on`,
      { ...fields, status: outcome.status, answer: outcome.answer },
    );
    return { result: { ...refusal, outcome: 'deadLettered', deadLetterId: letter.id }, committed: nothingToCommit };
  }
  const stored = deps.store?.confirm(
    { customerId: customer.id, customerName: customer.name, packageId: outcome.packageId, outcome: outcome.kind },
    deps.now(),
    path,
  );
  const committed = (stored ?? nothingToCommit).then(() => {
    deps.logger.info(
      outcome.kind === 'created'
        ? `Welcome package ${outcome.packageId} created for customer ${customer.id}`
        : `Welcome package ${outcome.packageId} was already there for customer ${customer.id}`,
      { ...fields, packageId: outcome.packageId, outcome: outcome.kind },
    );
  });
  return { result: { customerId: customer.id, outcome: outcome.kind, packageId: outcome.packageId }, committed };
}

/**
 * Gets one customer's welcome package made, or the refusal kept, at most once however many
 * paths bring the customer: a customer already known is not asked for again, and one in flight
 * is waited for, not asked for twice. Resolves once the Inventory has answered; `committed`
 * settles once the outcome is on disk (confirmations are committed in groups). A caller that
 * answers for the customer (the webhook route) waits for both; the poller waits for the commit
 * only before it moves the cursor, and asks for the next customer meanwhile.
 * Throws UpstreamUnavailableError, recording nothing, when the Inventory gives no answer.
 */
export async function answerFor(deps: DeliveryDeps, customer: CrmCustomer, path: DeliveryPath): Promise<Answered> {
  const pending = deps.inFlight?.get(customer.id);
  const known = pending ? undefined : fromKnowledge(deps, customer.id);
  if (known) return { result: known, committed: nothingToCommit };
  if (pending) return { result: { ...(await pending), repeat: true }, committed: nothingToCommit };
  const asking = askInventory(deps, customer, path);
  // Whoever else brings this customer meanwhile waits until its outcome is on disk.
  const done = asking.then(async ({ result, committed }) => {
    await committed;
    return result;
  });
  deps.inFlight?.set(customer.id, done);
  const forget = () => deps.inFlight?.delete(customer.id);
  done.then(forget, forget);
  return asking;
}

/** As answerFor, resolving once the outcome is also on disk. */
export async function deliverCustomer(deps: DeliveryDeps, customer: CrmCustomer, path: DeliveryPath): Promise<DeliveryResult> {
  const { result, committed } = await answerFor(deps, customer, path);
  await committed;
  return result;
}
