import type { Logger } from '@welcome/common';
import type { DeliveryStore } from '../../store/deliveries/delivery-store.js';
import type { Claim, DeliveryResult, KnownCustomer } from '../model/delivery.js';

/** How often a customer another replica holds is looked at again, by a caller that waits for it. */
export const CLAIM_RECHECK_MS = 25;

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Deferred<T> {
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

/** Who this replica is to the store, and how long a claim of it lasts. */
export interface ClaimSettings {
  owner: string;
  leaseMs: number;
}

export function fromKnowledge(customerId: number, known: KnownCustomer): DeliveryResult {
  if (known.state === 'confirmed')
    return { customerId, outcome: known.outcome, packageId: known.packageId, repeat: true };
  if (known.state === 'deadLettered')
    return { customerId, outcome: 'deadLettered', deadLetterId: known.deadLetterId, repeat: true };
  return { customerId, outcome: 'handledBefore', repeat: true };
}

/**
 * The customers this process is asking the Inventory for, and the claims that keep the replicas
 * sharing the store from asking for one together: none is in flight twice in this process, and
 * none is asked for by two replicas while a lease runs.
 */
export function createReservations(parts: {
  deliveries: DeliveryStore;
  claims: ClaimSettings;
  now: () => Date;
  logger: Logger;
}) {
  const { deliveries, claims, now, logger } = parts;
  /** Each customer in flight here: its result once recorded, or undefined when it was left to another replica. */
  const inFlight = new Map<number, Promise<DeliveryResult | undefined>>();

  /** Marks the customer in flight in this process until `outcome` settles. */
  const markInFlight = (customerId: number): Deferred<DeliveryResult | undefined> => {
    const outcome = deferred<DeliveryResult | undefined>();
    const forget = () => {
      if (inFlight.get(customerId) === outcome.promise) inFlight.delete(customerId);
    };
    inFlight.set(customerId, outcome.promise);
    outcome.promise.then(forget, forget);
    return outcome;
  };

  /** Gives a claim back before its lease ends; a store that cannot be reached lets the lease run out instead. */
  const release = async (customerId: number, purpose: 'delivery' | 'replay' = 'delivery'): Promise<void> => {
    await deliveries.release(customerId, claims.owner, purpose).catch((error: unknown) => {
      logger.debug(`The claim of customer ${customerId} could not be given back; it lapses with its lease`, {
        customerId,
        error: (error as Error).message,
      });
    });
  };

  const settle = (customerId: number, claim: Claim, outcome: Deferred<DeliveryResult | undefined>): Reservation => {
    if (claim.state === 'claimed') return { kind: 'claimed', outcome };
    if (claim.state === 'claimedElsewhere') {
      outcome.resolve(undefined);
      return { kind: 'heldElsewhere' };
    }
    const result = fromKnowledge(customerId, claim);
    outcome.resolve(result);
    return { kind: 'known', result };
  };

  return {
    /**
     * Tries to take these customers for this replica, in one claim of the store. Each is marked in
     * flight here before the claim is asked for, so that whoever else brings one of them meanwhile
     * in this process (a webhook, say) waits for this outcome instead of claiming and asking too.
     */
    async reserve(customerIds: readonly number[]): Promise<Reservation[]> {
      const reservations: Reservation[] = [];
      const toClaim: Array<{ index: number; customerId: number; outcome: Deferred<DeliveryResult | undefined> }> = [];
      customerIds.forEach((customerId, index) => {
        const pending = inFlight.get(customerId);
        if (pending) reservations[index] = { kind: 'inFlightHere', pending };
        else toClaim.push({ index, customerId, outcome: markInFlight(customerId) });
      });
      if (toClaim.length === 0) return reservations;
      let claimed: Claim[];
      try {
        claimed = await deliveries.claimAll(
          toClaim.map(({ customerId }) => customerId),
          claims.owner,
          now(),
          claims.leaseMs,
        );
      } catch (error) {
        for (const { outcome } of toClaim) outcome.reject(error);
        throw error;
      }
      toClaim.forEach(({ index, customerId, outcome }, n) => {
        reservations[index] = settle(customerId, claimed[n]!, outcome);
      });
      return reservations;
    },

    /**
     * Gives up a customer claimed but not asked for (a cycle stopped first):
     * released, and those waiting here try themselves.
     */
    async abandon(customerId: number, reservation: Reservation): Promise<void> {
      if (reservation.kind !== 'claimed') return;
      await release(customerId);
      reservation.outcome.resolve(undefined);
    },

    release,

    /**
     * Holds a customer handled already for one more ask of the Inventory (the replay of its dead
     * letter, or the repair of a package a reconciliation found missing), waiting while another
     * replica holds it for the same. The caller gives it back with `release(customerId, 'replay')`.
     */
    async holdToAskAgain(customerId: number): Promise<void> {
      while ((await deliveries.claim(customerId, claims.owner, now(), claims.leaseMs, 'replay')).state !== 'claimed') {
        await pause(CLAIM_RECHECK_MS);
      }
    },
  };
}

export type Reservations = ReturnType<typeof createReservations>;
