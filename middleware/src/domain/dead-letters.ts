import { AppError, notFound } from '@welcome/common';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { DeadLetter } from '../store/sync-store.js';
import type { SyncDeps } from './sync.js';

export type ReplayResult =
  | { customerId: number; outcome: 'created' | 'alreadyThere'; packageId: number }
  | { customerId: number; outcome: 'stillRefused'; deadLetter: DeadLetter };

/**
 * Tries one dead-lettered customer again, as the CRM has it now (it may have been fixed there).
 * Delivered: it leaves the list. Refused again: the attempt and the new reason are kept.
 */
export async function replayDeadLetter(deps: SyncDeps, customerId: number): Promise<ReplayResult> {
  if (!deps.store.findDeadLetter(customerId)) throw notFound(`Customer ${customerId} is not in the dead letters.`);
  try {
    const record = await deps.crm.getCustomer(customerId);
    if (record === undefined || record.problem !== undefined) {
      const reason = record === undefined ? 'The CRM no longer has this customer' : `The CRM record is unusable: ${record.problem}`;
      deps.store.recordDeadLetter({ customerId, customer: record?.raw ?? null, status: null, reason }, deps.now());
      return { customerId, outcome: 'stillRefused', deadLetter: deps.store.findDeadLetter(customerId)! };
    }
    const outcome = await deps.inventory.requestPackage({ customerId, customerName: record.customer.name });
    if (outcome.kind === 'refused') {
      deps.store.recordDeadLetter(
        { customerId, customer: record.customer, status: outcome.status, reason: outcome.answer },
        deps.now(),
      );
      deps.logger.warn(`Replay of customer ${customerId} refused again with ${outcome.status}`, { customerId, status: outcome.status });
      return { customerId, outcome: 'stillRefused', deadLetter: deps.store.findDeadLetter(customerId)! };
    }
    deps.store.resolveDeadLetter(customerId, outcome.kind);
    deps.logger.info(`Replay delivered customer ${customerId}: package ${outcome.packageId}`, {
      customerId,
      packageId: outcome.packageId,
      outcome: outcome.kind,
    });
    return { customerId, outcome: outcome.kind, packageId: outcome.packageId };
  } catch (error) {
    if (error instanceof UpstreamUnavailableError) {
      throw new AppError(502, 'upstream-unavailable', `${error.message}; the dead letter is unchanged, try again later.`);
    }
    throw error;
  }
}
