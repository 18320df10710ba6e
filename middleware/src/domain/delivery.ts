import { SpanKind } from '@opentelemetry/api';
import type { Logger } from '@welcome/common';
import { contextOf, currentTraceId, inSpan, linkToActive, spanEvent } from '@welcome/common/tracing';
import type { CrmCustomer, RecordTrace } from '../clients/crm-client.js';
import type { Attempt, InventoryClient } from '../clients/inventory-client.js';
import type { Claim, DeadLetter, DeliveryPath, KnownCustomer, NewDeadLetter, SyncStore } from '../store/sync-store.js';
import type { Journal, JourneyStep } from './journey.js';

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

/** Who this replica is to the store, and how long a claim of it lasts. */
export interface ClaimSettings {
  owner: string;
  leaseMs: number;
}

/**
 * The one delivery core, which the poller, the webhook route, the reconciliation and the Lambda
 * handler all call, in one of two modes.
 *
 * Stateless (the Lambda handler): the Inventory, a log and a clock; nothing is kept, a refusal is
 * handed back to the caller.
 */
export interface StatelessDelivery {
  inventory: InventoryClient;
  logger: Logger;
  now: () => Date;
  store?: undefined;
}

/**
 * Recorded (a middleware process): outcomes are recorded in the store, known customers are not
 * asked for again, each customer is claimed before it is asked for (so that replicas sharing the
 * store never ask for one together), none is in flight twice in this process, and each
 * customer's journey is noted.
 */
export interface RecordedDelivery extends Omit<StatelessDelivery, 'store'> {
  store: SyncStore;
  claims: ClaimSettings;
  /** Each customer in flight here: its result once recorded, or undefined when it was left to another replica. */
  inFlight: Map<number, Promise<DeliveryResult | undefined>>;
  journal?: Journal;
}

export type DeliveryDeps = StatelessDelivery | RecordedDelivery;

/** Whether this delivery records its outcomes (a middleware) or keeps nothing (the Lambda handler). */
export const isRecorded = (deps: DeliveryDeps): deps is RecordedDelivery => deps.store !== undefined;

/** How often a customer another replica holds is looked at again, by a caller that waits for it. */
export const CLAIM_RECHECK_MS = 25;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Keeps a record that cannot be delivered, logging it the first time (a record sent again is
 * logged at debug). The cursor moves over it once every customer before it is handled too.
 */
export async function deadLetter(
  deps: { store: SyncStore; logger: Logger; now: () => Date },
  letter: NewDeadLetter,
  message: string,
  fields: Record<string, unknown>,
): Promise<DeadLetter> {
  const stored = await deps.store.recordDeadLetter(letter, deps.now(), { moveCursor: false });
  deps.logger.log(stored.attempts === 1 ? 'warn' : 'debug', message, {
    deadLetterId: stored.id,
    attempts: stored.attempts,
    ...fields,
  });
  return stored;
}

function fromKnowledge(customerId: number, known: KnownCustomer): DeliveryResult {
  if (known.state === 'confirmed')
    return { customerId, outcome: known.outcome, packageId: known.packageId, repeat: true };
  if (known.state === 'deadLettered')
    return { customerId, outcome: 'deadLettered', deadLetterId: known.deadLetterId, repeat: true };
  return { customerId, outcome: 'handledBefore', repeat: true };
}

/**
 * Holds a customer handled already for one more ask of the Inventory (the replay of its dead
 * letter, or the repair of a package a reconciliation found missing), waiting while another
 * replica holds it for the same. The caller gives it back with `releaseCustomer(..., { replay: true })`.
 */
export async function claimToAskAgain(deps: RecordedDelivery, customerId: number): Promise<void> {
  while (
    (await deps.store.claim(customerId, deps.claims.owner, deps.now(), deps.claims.leaseMs, { replay: true })).state !==
    'claimed'
  ) {
    await pause(CLAIM_RECHECK_MS);
  }
}

/** Gives a claim back before its lease ends; a store that cannot be reached lets the lease run out instead. */
export async function releaseCustomer(
  deps: DeliveryDeps,
  customerId: number,
  options: { replay?: boolean } = {},
): Promise<void> {
  if (!isRecorded(deps)) return;
  await deps.store.release(customerId, deps.claims.owner, options).catch((error: unknown) => {
    deps.logger.debug(`The claim of customer ${customerId} could not be given back; it lapses with its lease`, {
      customerId,
      error: (error as Error).message,
    });
  });
}

/**
 * Runs the delivery of one customer in a span of its trace: a child of the context the CRM created
 * it in (the record tells it), so that the customer's spans in the three services share one trace
 * whichever path brought it, linked to the span of that path (the webhook request, the poll).
 */
export function inCustomerSpan<T>(
  customer: { id: number; trace?: RecordTrace | undefined },
  via: AskedBy,
  work: () => Promise<T>,
): Promise<T> {
  const options = {
    kind: SpanKind.CONSUMER,
    parent: contextOf(customer.trace?.traceparent),
    links: linkToActive(),
    attributes: {
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'customer.created',
      'welcome.customer.id': customer.id,
      'welcome.via': via,
    },
  };
  return inSpan('process customer.created', options, work);
}

/** A customer the Inventory has answered for, and the commit that records the answer. */
export interface Answered {
  result: DeliveryResult;
  /** Settles once the outcome is on disk (at once when there is nothing to record); rejects if that write fails. */
  committed: Promise<void>;
}

const nothingToCommit = Promise.resolve();

/** Why the Inventory is asked for a customer: a path brought it, or a reconciliation found its package missing. */
export type AskedBy = DeliveryPath | 'reconciliation';

/**
 * Notes in the customer's journey that `path` brought it to be asked for (and, the first time a
 * record says, when the CRM created it), in the trace it is delivered in.
 */
function noteFound(
  deps: DeliveryDeps,
  customer: CrmCustomer,
  path: AskedBy,
  trace: RecordTrace | undefined,
  traceId: string | undefined,
): void {
  const journal = isRecorded(deps) ? deps.journal : undefined;
  if (!journal) return;
  if (trace?.createdAt) journal.record(customer.id, { kind: 'created', at: trace.createdAt }, traceId);
  journal.record(customer.id, { kind: 'found', at: deps.now().toISOString(), via: path }, traceId);
}

async function askInventory(
  deps: DeliveryDeps,
  customer: CrmCustomer,
  path: AskedBy,
  trace?: RecordTrace,
): Promise<Answered> {
  const traceId = currentTraceId();
  noteFound(deps, customer, path, trace, traceId);
  const journal = isRecorded(deps) ? deps.journal : undefined;
  const onAttempt =
    journal &&
    ((attempt: Attempt) =>
      journal.record(customer.id, { kind: 'asked', at: deps.now().toISOString(), ...attempt }, traceId));
  const outcome = await deps.inventory.requestPackage(
    { customerId: customer.id, customerName: customer.name },
    onAttempt,
  );
  const fields = { customerId: customer.id, customerName: customer.name, via: path };
  const noteOutcome = (step: Omit<Extract<JourneyStep, { kind: 'outcome' }>, 'kind' | 'at'>) =>
    journal?.record(customer.id, { kind: 'outcome', at: deps.now().toISOString(), ...step }, traceId);
  if (outcome.kind === 'refused') {
    spanEvent(isRecorded(deps) ? 'dead-lettered' : 'refused', {
      'http.response.status_code': outcome.status,
      'welcome.customer.id': customer.id,
    });
    const refusal = { customerId: customer.id, status: outcome.status, answer: outcome.answer };
    if (!isRecorded(deps)) return { result: { ...refusal, outcome: 'refused' }, committed: nothingToCommit };
    const letter = await deadLetter(
      { store: deps.store, logger: deps.logger, now: deps.now },
      { customerId: customer.id, customer, status: outcome.status, reason: outcome.answer },
      `The Inventory refused customer ${customer.id} with ${outcome.status}; dead-lettered, moving on`,
      { ...fields, status: outcome.status, answer: outcome.answer },
    );
    noteOutcome({ outcome: 'deadLettered', deadLetterId: letter.id, status: outcome.status });
    return { result: { ...refusal, outcome: 'deadLettered', deadLetterId: letter.id }, committed: nothingToCommit };
  }
  const stored = deps.store?.confirm(
    { customerId: customer.id, customerName: customer.name, packageId: outcome.packageId, outcome: outcome.kind },
    deps.now(),
    path === 'reconciliation' ? undefined : path,
  );
  const committed = (stored ?? nothingToCommit).then(() => {
    noteOutcome({ outcome: path === 'reconciliation' ? 'repaired' : outcome.kind, packageId: outcome.packageId });
    deps.logger.info(
      outcome.kind === 'created'
        ? `Welcome package ${outcome.packageId} created for customer ${customer.id}`
        : `Welcome package ${outcome.packageId} was already there for customer ${customer.id}`,
      { ...fields, packageId: outcome.packageId, outcome: outcome.kind },
    );
  });
  return { result: { customerId: customer.id, outcome: outcome.kind, packageId: outcome.packageId }, committed };
}

/** As askInventory, for a claimed customer: one whose outcome is not recorded is given back at once. */
async function askHoldingClaim(
  deps: DeliveryDeps,
  customer: CrmCustomer,
  path: DeliveryPath,
  trace?: RecordTrace,
): Promise<Answered> {
  let answered: Answered;
  try {
    answered = await askInventory(deps, customer, path, trace);
  } catch (error) {
    await releaseCustomer(deps, customer.id);
    throw error;
  }
  answered.committed.catch(() => releaseCustomer(deps, customer.id));
  return answered;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Where one customer stands for this process, once it has tried to take it: in flight here
 * already (wait for that), known already, held by another replica, or claimed by this one, whose
 * in-process waiters get `outcome` once the answer is on disk (undefined when it is given up).
 */
export type Reservation =
  | { kind: 'inFlightHere'; pending: Promise<DeliveryResult | undefined> }
  | { kind: 'known'; result: DeliveryResult }
  | { kind: 'heldElsewhere' }
  | { kind: 'claimed'; outcome: Deferred<DeliveryResult | undefined> };

/** Marks the customer in flight in this process until `outcome` settles. */
function markInFlight(deps: DeliveryDeps, customerId: number): Deferred<DeliveryResult | undefined> {
  const outcome = deferred<DeliveryResult | undefined>();
  const forget = () => {
    if (isRecorded(deps) && deps.inFlight.get(customerId) === outcome.promise) deps.inFlight.delete(customerId);
  };
  if (isRecorded(deps)) deps.inFlight.set(customerId, outcome.promise);
  outcome.promise.then(forget, forget);
  return outcome;
}

/**
 * Tries to take these customers for this replica, in one claim of the store. Each is marked in
 * flight here before the claim is asked for, so that whoever else brings one of them meanwhile
 * in this process (a webhook, say) waits for this outcome instead of claiming and asking too.
 */
export async function reserveCustomers(deps: DeliveryDeps, customerIds: readonly number[]): Promise<Reservation[]> {
  const reservations: Reservation[] = [];
  const toClaim: Array<{ index: number; customerId: number; outcome: Deferred<DeliveryResult | undefined> }> = [];
  customerIds.forEach((customerId, index) => {
    const pending = isRecorded(deps) ? deps.inFlight.get(customerId) : undefined;
    if (pending) reservations[index] = { kind: 'inFlightHere', pending };
    else toClaim.push({ index, customerId, outcome: markInFlight(deps, customerId) });
  });
  let claims: Claim[];
  try {
    claims =
      isRecorded(deps) && toClaim.length > 0
        ? await deps.store.claimAll(
            toClaim.map(({ customerId }) => customerId),
            deps.claims.owner,
            deps.now(),
            deps.claims.leaseMs,
          )
        : toClaim.map(() => ({ state: 'claimed' }));
  } catch (error) {
    for (const { outcome } of toClaim) outcome.reject(error);
    throw error;
  }
  toClaim.forEach(({ index, customerId, outcome }, n) => {
    const claim = claims[n]!;
    if (claim.state === 'claimed') {
      reservations[index] = { kind: 'claimed', outcome };
    } else if (claim.state === 'claimedElsewhere') {
      outcome.resolve(undefined);
      reservations[index] = { kind: 'heldElsewhere' };
    } else {
      const result = fromKnowledge(customerId, claim);
      outcome.resolve(result);
      reservations[index] = { kind: 'known', result };
    }
  });
  return reservations;
}

/**
 * Gives up a customer claimed but not asked for (a cycle stopped first):
 * released, and those waiting here try themselves.
 */
export async function abandonReservation(
  deps: DeliveryDeps,
  customerId: number,
  reservation: Reservation,
): Promise<void> {
  if (reservation.kind !== 'claimed') return;
  await releaseCustomer(deps, customerId);
  reservation.outcome.resolve(undefined);
}

/**
 * Acts on a reservation: asks the Inventory for a customer claimed here, tells what is known of
 * one handled already or in flight here, and undefined for one another replica holds.
 */
export async function deliverReserved(
  deps: DeliveryDeps,
  customer: CrmCustomer,
  path: DeliveryPath,
  reservation: Reservation,
  trace?: RecordTrace,
): Promise<Answered | undefined> {
  switch (reservation.kind) {
    case 'inFlightHere': {
      const result = await reservation.pending;
      return result && { result: { ...result, repeat: true }, committed: nothingToCommit };
    }
    case 'known':
      return { result: reservation.result, committed: nothingToCommit };
    case 'heldElsewhere':
      return undefined;
    case 'claimed':
      try {
        const answered = await askHoldingClaim(deps, customer, path, trace);
        answered.committed.then(() => reservation.outcome.resolve(answered.result), reservation.outcome.reject);
        return answered;
      } catch (error) {
        reservation.outcome.reject(error);
        throw error;
      }
  }
}

/**
 * Gets one customer's welcome package made, or the refusal kept, at most once however many
 * paths and replicas bring the customer: a customer already known is not asked for again, one in
 * flight here is waited for, and one another replica holds is waited for until its outcome is
 * recorded (or its lease runs out, and then this replica asks). Resolves once the Inventory has
 * answered; `committed` settles once the outcome is on disk (confirmations are committed in
 * groups). A caller that answers for the customer (the webhook route) waits for both.
 * Throws UpstreamUnavailableError, recording nothing, when the Inventory gives no answer.
 */
export async function answerFor(
  deps: DeliveryDeps,
  customer: CrmCustomer,
  path: DeliveryPath,
  trace?: RecordTrace,
): Promise<Answered> {
  for (;;) {
    const [reservation] = await reserveCustomers(deps, [customer.id]);
    const answered = await deliverReserved(deps, customer, path, reservation!, trace);
    if (answered) return answered;
    // Held elsewhere, or given up by whoever had it here: look again.
    if (reservation!.kind === 'heldElsewhere') await pause(CLAIM_RECHECK_MS);
  }
}

/** As answerFor, resolving once the outcome is also on disk. */
export async function deliverCustomer(
  deps: DeliveryDeps,
  customer: CrmCustomer,
  path: DeliveryPath,
  trace?: RecordTrace,
): Promise<DeliveryResult> {
  const { result, committed } = await answerFor(deps, customer, path, trace);
  await committed;
  return result;
}

/**
 * Asks the Inventory again for a customer handled long ago whose package a reconciliation found
 * missing, under the claim replays take (so that one replica asks, once), and records the outcome
 * as any other: a package confirmed, or the refusal dead-lettered.
 */
export async function repairCustomer(
  deps: RecordedDelivery,
  customer: CrmCustomer,
  trace?: RecordTrace,
): Promise<DeliveryResult> {
  await claimToAskAgain(deps, customer.id);
  try {
    const { result, committed } = await askInventory(deps, customer, 'reconciliation', trace);
    await committed;
    return result;
  } finally {
    await releaseCustomer(deps, customer.id, { replay: true });
  }
}
