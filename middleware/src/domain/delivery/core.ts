import type { CustomerRecord, UnusableRecord } from '../../clients/crm-client.js';
import type { DeadLetter, ReplayResult } from '../model/dead-letter.js';
import type { DeliveryPath, DeliveryResult } from '../model/delivery.js';
import type { InventoryGate } from '../flow/gate.js';
import { repairPackage, replayDeadLetter } from './ask-again.js';
import { askInventory, inCustomerSpan, journeyOf, type AskParts, type Deliverable, type Journal } from './ask.js';
import { deliverInOrder, type InOrderRun } from './in-order.js';
import {
  CLAIM_RECHECK_MS,
  createReservations,
  pause,
  type ClaimSettings,
  type Reservation,
  type Reservations,
} from './reservations.js';
import { deadLetter, nothingToCommit, recordAnswer, type Answered, type Recording } from './settle.js';

/** What every path that brings customers one by one asks of the core: the webhook route and the Lambda handler. */
export interface WebhookDelivery {
  /**
   * Gets one customer's welcome package made, or the refusal kept, in the customer's span; resolves
   * once the outcome is on disk. Throws UpstreamUnavailableError, recording nothing, when the
   * Inventory gives no answer.
   */
  deliver(record: Deliverable, path: DeliveryPath): Promise<DeliveryResult>;
  /** Keeps a record that cannot be delivered: its dead letter, or undefined where there is no dead-letter table. */
  deadLetterUnusable(record: UnusableRecord, path: DeliveryPath): Promise<DeadLetter | undefined>;
}

/**
 * The one delivery core of a middleware process, with one entry per path: the webhook's customer,
 * the poll's walk in id order, the reconciliation's repair and the dead letter's replay. Each
 * claims the customer, asks the Inventory in the customer's span, notes the journey and records the
 * outcome the same way.
 */
export interface DeliveryCore extends WebhookDelivery {
  /** The poller's walk (by poll or long poll): see deliverInOrder. */
  deliverInOrder(
    records: readonly CustomerRecord[],
    path: DeliveryPath,
    options: { concurrency: number; shouldStop: () => boolean },
  ): Promise<InOrderRun>;
  /**
   * Asks the Inventory again for a customer handled long ago whose package a reconciliation found
   * missing, under the claim replays take (so that one replica asks, once), and records the outcome
   * as any other: a package confirmed, or the refusal dead-lettered.
   */
  repair(record: Deliverable): Promise<DeliveryResult>;
  /**
   * Tries one dead letter again, with the customer as the CRM has it now (`current`; undefined when
   * the CRM no longer has it). Delivered: it leaves the list. Refused again: the attempt and the new
   * reason are kept. The customer is claimed meanwhile, so that two replicas replaying the same
   * letter ask one after the other; undefined when the letter was replayed away meanwhile.
   */
  replay(letter: DeadLetter, current: () => Promise<CustomerRecord | undefined>): Promise<ReplayResult | undefined>;
}

export interface CoreParts extends Recording, AskParts {
  journal: Journal;
  gate: InventoryGate;
  claims: ClaimSettings;
}

const unusableMessage = (record: UnusableRecord, path: DeliveryPath) =>
  path === 'webhook'
    ? `Customer ${record.id} from a CRM webhook is unusable (${record.problem}); dead-lettered`
    : `${record.id === undefined ? 'A CRM record without a usable id' : `Customer ${record.id} from the CRM`} ` +
      `is unusable (${record.problem}); dead-lettered, moving on`;

export function createDeliveryCore(parts: CoreParts): DeliveryCore {
  const reservations = createReservations(parts);
  return {
    deliver: (record, path) => deliverAtMostOnce(parts, reservations, record, path),
    deadLetterUnusable: (record, path) => deadLetterUnusable(parts, record, path),
    deliverInOrder: (records, path, options) =>
      deliverInOrder(
        {
          ...parts,
          reservations,
          deliverReserved: (record, path, reservation) =>
            deliverReserved(parts, reservations, record, path, reservation),
          deadLetterUnusable: (record) => deadLetterUnusable(parts, record, path),
        },
        records,
        path,
        options,
      ),
    repair: (record) => repairPackage(parts, reservations, record),
    replay: (letter, current) => replayDeadLetter(parts, reservations, letter, current),
  };
}

/**
 * At most once however many paths and replicas bring the customer: a customer already known is
 * not asked for again, one in flight here is waited for, and one another replica holds is
 * waited for until its outcome is recorded (or its lease runs out, and then this replica asks).
 */
function deliverAtMostOnce(
  parts: CoreParts,
  reservations: Reservations,
  record: Deliverable,
  path: DeliveryPath,
): Promise<DeliveryResult> {
  return inCustomerSpan(record, path, async () => {
    for (;;) {
      const [reservation] = await reservations.reserve([record.id]);
      const answered = await deliverReserved(parts, reservations, record, path, reservation!);
      if (answered) {
        await answered.committed;
        return answered.result;
      }
      // Held elsewhere, or given up by whoever had it here: look again.
      if (reservation!.kind === 'heldElsewhere') await pause(CLAIM_RECHECK_MS);
    }
  });
}

/**
 * Acts on a reservation: asks the Inventory for a customer claimed here, tells what is known of
 * one handled already or in flight here, and undefined for one another replica holds. Resolves
 * once the Inventory has answered; `committed` settles once the outcome is on disk.
 */
async function deliverReserved(
  parts: CoreParts,
  reservations: Reservations,
  record: Deliverable,
  path: DeliveryPath,
  reservation: Reservation,
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
        const answered = await askHoldingClaim(parts, reservations, record, path);
        answered.committed.then(() => reservation.outcome.resolve(answered.result), reservation.outcome.reject);
        return answered;
      } catch (error) {
        reservation.outcome.reject(error);
        throw error;
      }
  }
}

/** Asks for a claimed customer; one whose outcome is not recorded is given back at once. */
async function askHoldingClaim(
  parts: CoreParts,
  reservations: Reservations,
  record: Deliverable,
  path: DeliveryPath,
): Promise<Answered> {
  let answered: Answered;
  try {
    const outcome = await askInventory(parts, record.customer, path, record.trace);
    answered = await recordAnswer(parts, record.customer, path, outcome, journeyOf(parts, record.id));
  } catch (error) {
    await reservations.release(record.id);
    throw error;
  }
  answered.committed.catch(() => reservations.release(record.id));
  return answered;
}

async function deadLetterUnusable(
  parts: CoreParts,
  record: UnusableRecord,
  path: DeliveryPath,
): Promise<DeadLetter | undefined> {
  const reason = `The CRM record is unusable: ${record.problem}`;
  const fields =
    path === 'webhook'
      ? { customerId: record.id, reason, via: path }
      : { customerId: record.id, reason, record: record.raw };
  return deadLetter(
    parts,
    { customerId: record.id ?? null, customer: record.raw, status: null, reason },
    unusableMessage(record, path),
    fields,
  );
}
