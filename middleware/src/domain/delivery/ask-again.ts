import type { CustomerRecord } from '../../clients/crm-client.js';
import type { DeadLetter, ReplayResult } from '../model/dead-letter.js';
import type { DeliveryResult } from '../model/delivery.js';
import { askInventory, inCustomerSpan, journeyOf, type AskParts, type Deliverable } from './ask.js';
import type { Reservations } from './reservations.js';
import { recordAnswer, recordReplay, refusedAgain, type Recording } from './settle.js';

/** What asking again for a customer handled long ago takes: the Inventory, and where outcomes go. */
export type AskAgainParts = Recording & AskParts;

/** Asks again for a customer handled already, holding it apart from deliveries while it does. */
async function askAgain<T>(reservations: Reservations, customerId: number, work: () => Promise<T>): Promise<T> {
  await reservations.holdToAskAgain(customerId);
  try {
    return await work();
  } finally {
    await reservations.release(customerId, 'replay');
  }
}

/** See DeliveryCore.repair. */
export function repairPackage(
  parts: AskAgainParts,
  reservations: Reservations,
  record: Deliverable,
): Promise<DeliveryResult> {
  return inCustomerSpan(record, 'reconciliation', () =>
    askAgain(reservations, record.id, async () => {
      const outcome = await askInventory(parts, record.customer, 'reconciliation', record.trace);
      const note = journeyOf(parts, record.id);
      const answered = await recordAnswer(parts, record.customer, 'reconciliation', outcome, note);
      await answered.committed;
      return answered.result;
    }),
  );
}

/** See DeliveryCore.replay. */
export async function replayDeadLetter(
  parts: AskAgainParts,
  reservations: Reservations,
  letter: DeadLetter,
  current: () => Promise<CustomerRecord | undefined>,
): Promise<ReplayResult | undefined> {
  if (letter.customerId === null)
    return refusedAgain(parts, letter, { customer: letter.customer, status: letter.status, reason: letter.reason });
  return askAgain(reservations, letter.customerId, async () => {
    if ((await parts.deadLetters.find(letter.id)) === undefined) return undefined;
    const record = await current();
    if (record === undefined)
      return refusedAgain(parts, letter, {
        customer: letter.customer,
        status: null,
        reason: 'The CRM no longer has this customer',
      });
    if (record.problem !== undefined)
      return refusedAgain(parts, letter, {
        customer: record.raw,
        status: null,
        reason: `The CRM record is unusable: ${record.problem}`,
      });
    return inCustomerSpan(record, 'replay', async () => {
      const outcome = await askInventory(parts, record.customer, 'replay', record.trace);
      return recordReplay(parts, letter, record.customer, outcome, journeyOf(parts, record.id));
    });
  });
}
