import { askInventory, inCustomerSpan, logConfirmed, type AskParts } from './ask.js';
import type { WebhookDelivery } from './core.js';

/**
 * The delivery core without a store (the Lambda handler): the Inventory is asked for every
 * customer brought, nothing is kept, and a refusal is handed back to the caller.
 */
export function createStatelessDelivery(parts: Omit<AskParts, 'journal'>): WebhookDelivery {
  return {
    deliver: (record, path) =>
      inCustomerSpan(record, path, async () => {
        const { customer } = record;
        const outcome = await askInventory(parts, customer, path, record.trace);
        if (outcome.kind === 'refused')
          return { customerId: customer.id, status: outcome.status, answer: outcome.answer, outcome: 'refused' };
        logConfirmed(parts.logger, customer, path, outcome);
        return { customerId: customer.id, outcome: outcome.kind, packageId: outcome.packageId };
      }),
    deadLetterUnusable: async () => undefined,
  };
}
