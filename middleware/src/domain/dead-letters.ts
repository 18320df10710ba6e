import { AppError, currentTraceId, notFound } from '@welcome/common';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { DeadLetter } from '../store/sync-store.js';
import { claimToAskAgain, releaseCustomer } from './delivery.js';
import type { JourneyStep } from './journey.js';
import type { SyncDeps } from './sync.js';

export type ReplayResult =
  | { id: number; customerId: number; outcome: 'created' | 'alreadyThere'; packageId: number }
  | { id: number; customerId: number | null; outcome: 'stillRefused'; deadLetter: DeadLetter };

/**
 * Tries one dead letter again, with the customer as the CRM has it now (it may have been fixed
 * there). Delivered: it leaves the list. Refused again: the attempt and the new reason are kept.
 * The customer is claimed meanwhile, so that two replicas replaying the same letter ask the
 * Inventory one after the other; undefined when the letter was replayed away meanwhile.
 * Throws UpstreamUnavailableError, changing nothing, when either upstream gives no answer.
 */
async function replay(deps: SyncDeps, letter: DeadLetter): Promise<ReplayResult | undefined> {
  const stillRefused = async (customer: unknown, status: number | null, reason: unknown): Promise<ReplayResult> => {
    // The letter is there already: the cursor moves over it only with the customers before it.
    const updated = await deps.store.recordDeadLetter(
      { customerId: letter.customerId, customer, status, reason },
      deps.now(),
      { moveCursor: false },
    );
    deps.logger.warn(`Replay of dead letter ${letter.id} refused again`, {
      deadLetterId: letter.id,
      customerId: letter.customerId,
      status,
      reason,
    });
    return { id: letter.id, customerId: letter.customerId, outcome: 'stillRefused', deadLetter: updated };
  };

  if (letter.customerId === null) return stillRefused(letter.customer, letter.status, letter.reason);
  const customerId = letter.customerId;
  await claimToAskAgain(deps, customerId);
  try {
    if ((await deps.store.findDeadLetter(letter.id)) === undefined) return undefined;
    const record = await deps.crm.getCustomer(customerId);
    if (record === undefined) return await stillRefused(letter.customer, null, 'The CRM no longer has this customer');
    if (record.problem !== undefined)
      return await stillRefused(record.raw, null, `The CRM record is unusable: ${record.problem}`);

    const note = (step: JourneyStep) => deps.journal?.record(customerId, step, currentTraceId());
    note({ kind: 'found', at: deps.now().toISOString(), via: 'replay' });
    const outcome = await deps.inventory.requestPackage(
      { customerId: record.id, customerName: record.customer.name },
      (attempt) => note({ kind: 'asked', at: deps.now().toISOString(), ...attempt }),
    );
    if (outcome.kind === 'refused') {
      note({
        kind: 'outcome',
        at: deps.now().toISOString(),
        outcome: 'deadLettered',
        deadLetterId: letter.id,
        status: outcome.status,
      });
      return await stillRefused(record.customer, outcome.status, outcome.answer);
    }
    await deps.store.resolveDeadLetter(
      letter.id,
      {
        customerId: record.id,
        customerName: record.customer.name,
        packageId: outcome.packageId,
        outcome: outcome.kind,
      },
      deps.now(),
    );
    note({ kind: 'outcome', at: deps.now().toISOString(), outcome: 'replayed', packageId: outcome.packageId });
    deps.logger.info(`Replay delivered customer ${record.id}: package ${outcome.packageId}`, {
      deadLetterId: letter.id,
      customerId: record.id,
      packageId: outcome.packageId,
      outcome: outcome.kind,
    });
    return { id: letter.id, customerId: record.id, outcome: outcome.kind, packageId: outcome.packageId };
  } finally {
    await releaseCustomer(deps, customerId, { replay: true });
  }
}

function unavailable(error: unknown): never {
  if (error instanceof UpstreamUnavailableError) {
    throw new AppError(502, 'upstream-unavailable', `${error.message}; nothing was changed, try again later.`, {
      cause: error,
    });
  }
  throw error;
}

export async function replayDeadLetter(deps: SyncDeps, id: number): Promise<ReplayResult> {
  const letter = await deps.store.findDeadLetter(id);
  if (!letter) throw notFound(`There is no dead letter ${id}.`);
  const result = await replay(deps, letter).catch(unavailable);
  if (!result) throw notFound(`There is no dead letter ${id} any more: another replay delivered it meanwhile.`);
  return result;
}

/** Up to `limit` dead letters with an id above `after`, by id. */
export function listDeadLetters(deps: SyncDeps, after: number, limit: number): Promise<DeadLetter[]> {
  return deps.store.listDeadLetters(after, limit);
}

export interface ReplayAllReport {
  delivered: number;
  stillRefused: number;
  /** Letters not tried because an upstream stopped answering; they stay as they were. */
  notTried: number;
  /** The upstream failure that ended the replay early, if one did. */
  stoppedBy?: string;
  results: ReplayResult[];
}

/** Replays every dead letter in turn; an unavailable upstream stops the run and leaves the rest untouched. */
export async function replayAllDeadLetters(deps: SyncDeps): Promise<ReplayAllReport> {
  const report: ReplayAllReport = { delivered: 0, stillRefused: 0, notTried: 0, results: [] };
  const letters: DeadLetter[] = [];
  for (
    let page = await deps.store.listDeadLetters(0, 500);
    page.length > 0;
    page = await deps.store.listDeadLetters(page.at(-1)!.id, 500)
  ) {
    letters.push(...page);
  }
  for (const [index, letter] of letters.entries()) {
    try {
      const result = await replay(deps, letter);
      if (!result) continue;
      report.results.push(result);
      if (result.outcome === 'stillRefused') report.stillRefused += 1;
      else report.delivered += 1;
    } catch (error) {
      if (!(error instanceof UpstreamUnavailableError)) throw error;
      report.stoppedBy = error.message;
      report.notTried = letters.length - index;
      break;
    }
  }
  deps.logger.info(
    `Replayed the dead letters: ${report.delivered} delivered, ${report.stillRefused} still refused, ` +
      `${report.notTried} not tried`,
    {
      delivered: report.delivered,
      stillRefused: report.stillRefused,
      notTried: report.notTried,
    },
  );
  return report;
}
