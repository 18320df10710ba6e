import type { Logger } from '@welcome/common';
import type { CrmCustomer } from '../../clients/crm-client.js';
import type { PackageOutcome } from '../../clients/inventory-client.js';
import type { DeadLetterStore } from '../../store/dead-letters/dead-letter-store.js';
import type { DeliveryStore } from '../../store/deliveries/delivery-store.js';
import type { DeadLetter, NewDeadLetter, ReplayResult } from '../model/dead-letter.js';
import type { AskedBy, DeliveryResult } from '../model/delivery.js';
import type { OutcomeStep } from '../model/journey.js';
import { logConfirmed } from './ask.js';

/** A customer the Inventory has answered for, and the commit that records the answer. */
export interface Answered {
  result: DeliveryResult;
  /** Settles once the outcome is on disk (at once when there is nothing to record); rejects if that write fails. */
  committed: Promise<void>;
}

export const nothingToCommit = Promise.resolve();

/** What recording an outcome takes. */
export interface Recording {
  deliveries: DeliveryStore;
  deadLetters: DeadLetterStore;
  logger: Logger;
  now: () => Date;
}

type Note = (step: OutcomeStep) => void;

/**
 * Keeps a record that cannot be delivered, logging it the first time (a record sent again is
 * logged at debug). The cursor moves over it once every customer before it is handled too.
 */
export async function deadLetter(
  parts: Recording,
  letter: NewDeadLetter,
  message: string,
  fields: Record<string, unknown>,
): Promise<DeadLetter> {
  const stored = await parts.deadLetters.record(letter, parts.now(), { moveCursor: false });
  parts.logger.log(stored.attempts === 1 ? 'warn' : 'debug', message, {
    deadLetterId: stored.id,
    attempts: stored.attempts,
    ...fields,
  });
  return stored;
}

/**
 * Records what the Inventory answered for a customer a path or a repair brought: a package
 * confirmed (committed with others in a group, then noted and logged), or the refusal dead-lettered.
 */
export async function recordAnswer(
  parts: Recording,
  customer: CrmCustomer,
  askedBy: AskedBy,
  outcome: PackageOutcome,
  note: Note,
): Promise<Answered> {
  const at = () => parts.now().toISOString();
  const fields = { customerId: customer.id, customerName: customer.name, via: askedBy };
  if (outcome.kind === 'refused') {
    const letter = await deadLetter(
      parts,
      { customerId: customer.id, customer, status: outcome.status, reason: outcome.answer },
      `The Inventory refused customer ${customer.id} with ${outcome.status}; dead-lettered, moving on`,
      { ...fields, status: outcome.status, answer: outcome.answer },
    );
    note({ kind: 'outcome', at: at(), outcome: 'deadLettered', deadLetterId: letter.id, status: outcome.status });
    const result: DeliveryResult = {
      customerId: customer.id,
      status: outcome.status,
      answer: outcome.answer,
      outcome: 'deadLettered',
      deadLetterId: letter.id,
    };
    return { result, committed: nothingToCommit };
  }
  const repair = askedBy === 'reconciliation';
  const committed = parts.deliveries
    .confirm(
      { customerId: customer.id, customerName: customer.name, packageId: outcome.packageId, outcome: outcome.kind },
      parts.now(),
      repair ? undefined : askedBy,
    )
    .then(() => {
      note({ kind: 'outcome', at: at(), outcome: repair ? 'repaired' : outcome.kind, packageId: outcome.packageId });
      logConfirmed(parts.logger, customer, askedBy, outcome);
    });
  return { result: { customerId: customer.id, outcome: outcome.kind, packageId: outcome.packageId }, committed };
}

/** A replayed letter refused again: the attempt and the new reason are kept on the letter. */
export async function refusedAgain(
  parts: Recording,
  letter: DeadLetter,
  refusal: Pick<NewDeadLetter, 'customer' | 'status' | 'reason'>,
): Promise<ReplayResult> {
  // The letter is there already: the cursor moves over it only with the customers before it.
  const updated = await parts.deadLetters.record({ customerId: letter.customerId, ...refusal }, parts.now(), {
    moveCursor: false,
  });
  parts.logger.warn(`Replay of dead letter ${letter.id} refused again`, {
    deadLetterId: letter.id,
    customerId: letter.customerId,
    status: refusal.status,
    reason: refusal.reason,
  });
  return { id: letter.id, customerId: letter.customerId, outcome: 'stillRefused', deadLetter: updated };
}

/** Records what the Inventory answered for a replayed letter: delivered (it leaves the list), or refused again. */
export async function recordReplay(
  parts: Recording,
  letter: DeadLetter,
  customer: CrmCustomer,
  outcome: PackageOutcome,
  note: Note,
): Promise<ReplayResult> {
  const at = () => parts.now().toISOString();
  if (outcome.kind === 'refused') {
    note({ kind: 'outcome', at: at(), outcome: 'deadLettered', deadLetterId: letter.id, status: outcome.status });
    return refusedAgain(parts, letter, { customer, status: outcome.status, reason: outcome.answer });
  }
  const delivery = { customerId: customer.id, customerName: customer.name, packageId: outcome.packageId };
  await parts.deadLetters.resolve(letter.id, { ...delivery, outcome: outcome.kind }, parts.now());
  note({ kind: 'outcome', at: at(), outcome: 'replayed', packageId: outcome.packageId });
  parts.logger.info(`Replay delivered customer ${customer.id}: package ${outcome.packageId}`, {
    deadLetterId: letter.id,
    customerId: customer.id,
    packageId: outcome.packageId,
    outcome: outcome.kind,
  });
  return { id: letter.id, customerId: customer.id, outcome: outcome.kind, packageId: outcome.packageId };
}
