import { AppError, notFound, type Logger } from '@welcome/common';
import type { CrmClient } from '../clients/crm-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { DeadLetterStore } from '../store/dead-letters/dead-letter-store.js';
import type { DeliveryCore } from './delivery/core.js';
import { DeliveryHeldError } from './flow/held.js';
import type { DeadLetter, ReplayAllReport, ReplayResult } from './model/dead-letter.js';

/** What replaying takes: the letters, the CRM to read each customer as it is now, and the delivery core. */
export interface Replaying {
  deadLetters: Pick<DeadLetterStore, 'find' | 'list'>;
  crm: Pick<CrmClient, 'getCustomer'>;
  delivery: Pick<DeliveryCore, 'replay'>;
  logger: Logger;
}

const replay = (parts: Replaying, letter: DeadLetter) =>
  parts.delivery.replay(letter, () => parts.crm.getCustomer(letter.customerId!));

function unavailable(error: unknown): never {
  if (error instanceof DeliveryHeldError) {
    throw new AppError(503, 'delivery-held', `Not replayed: ${error.message}; nothing was changed, try again later.`, {
      headers: { 'Retry-After': String(error.retryAfterS) },
      cause: error,
    });
  }
  if (error instanceof UpstreamUnavailableError) {
    throw new AppError(502, 'upstream-unavailable', `${error.message}; nothing was changed, try again later.`, {
      cause: error,
    });
  }
  throw error;
}

/**
 * Tries one dead letter again, with the customer as the CRM has it now. Throws a 502 AppError,
 * changing nothing, when either upstream gives no answer; a 404 when there is no such letter, or
 * no longer (another replay delivered it meanwhile).
 */
export async function replayDeadLetter(parts: Replaying, id: number): Promise<ReplayResult> {
  const letter = await parts.deadLetters.find(id);
  if (!letter) throw notFound(`There is no dead letter ${id}.`);
  const result = await replay(parts, letter).catch(unavailable);
  if (!result) throw notFound(`There is no dead letter ${id} any more: another replay delivered it meanwhile.`);
  return result;
}

/** Up to `limit` dead letters with an id above `after`, by id. */
export function listDeadLetters(
  deadLetters: Pick<DeadLetterStore, 'list'>,
  after: number,
  limit: number,
): Promise<DeadLetter[]> {
  return deadLetters.list(after, limit);
}

async function allLetters(deadLetters: Pick<DeadLetterStore, 'list'>): Promise<DeadLetter[]> {
  const letters: DeadLetter[] = [];
  for (let page = await deadLetters.list(0, 500); page.length > 0; page = await deadLetters.list(page.at(-1)!.id, 500))
    letters.push(...page);
  return letters;
}

/** Replays every dead letter in turn; an unavailable upstream stops the run and leaves the rest untouched. */
export async function replayAllDeadLetters(parts: Replaying): Promise<ReplayAllReport> {
  const report: ReplayAllReport = { delivered: 0, stillRefused: 0, notTried: 0, results: [] };
  const letters = await allLetters(parts.deadLetters);
  for (const [index, letter] of letters.entries()) {
    try {
      const result = await replay(parts, letter);
      if (!result) continue;
      report.results.push(result);
      if (result.outcome === 'stillRefused') report.stillRefused += 1;
      else report.delivered += 1;
    } catch (error) {
      if (!(error instanceof UpstreamUnavailableError || error instanceof DeliveryHeldError)) throw error;
      report.stoppedBy = error.message;
      report.notTried = letters.length - index;
      break;
    }
  }
  const { delivered, stillRefused, notTried } = report;
  parts.logger.info(
    `Replayed the dead letters: ${delivered} delivered, ${stillRefused} still refused, ${notTried} not tried`,
    { delivered, stillRefused, notTried },
  );
  return report;
}
