import { groupCommit, notFound, type Logger } from '@welcome/common';
import type { JourneyEntry, JourneyStep, RecordedStep, SyncStore } from '../store/sync-store.js';

export type { JourneyStep } from '../store/sync-store.js';

export interface Journal {
  /**
   * Notes a step of one customer's journey, with the trace it happened in.
   * Never throws, never waits: steps are written in groups, a failed write is logged at debug and dropped.
   */
  record(customerId: number, step: JourneyStep, traceId?: string): void;
  /** Resolves once every step recorded so far is written (tests, shutdown). */
  flush(): Promise<void>;
}

/** What happened to one customer, step by step, and the trace of its latest traced step. */
export interface Journey {
  customerId: number;
  traceId: string | null;
  steps: RecordedStep[];
}

/** A journey as the API shows it: with a link to its trace in the trace viewer, when TRACE_UI_URL is set. */
export interface JourneyView {
  customerId: number;
  traceId: string | null;
  traceUrl: string | null;
  steps: RecordedStep[];
}

/**
 * The least time between two writes of steps. Under load the steps of this long share one
 * statement (3 or 4 steps a customer, hundreds of customers); a lone step after a quiet spell is
 * written at once.
 */
const JOURNAL_SPACING_MS = 10;

/**
 * Steps waiting to be written beyond which new ones are dropped: while the database does not
 * answer, the journal must not grow without end in memory. Delivery stops meanwhile anyway.
 */
const MAX_WAITING_STEPS = 20_000;

/** One form for every time, so that steps from the CRM and from here sort and prune alike. */
function isoTime(at: string): string {
  const time = Date.parse(at);
  return Number.isNaN(time) ? at : new Date(time).toISOString();
}

export function createJournal(deps: { store: SyncStore; logger: Logger }): Journal {
  const { store, logger } = deps;
  let waiting = 0;
  let dropped = 0;
  // Groups are written one after the other and never fail (a failure is logged and dropped
  // here), so the promise of the latest step recorded settles after every one before it.
  let latest: Promise<void> = Promise.resolve();
  const write = groupCommit<JourneyEntry>(
    async (batch) => {
      try {
        await store.recordJourney(batch);
      } catch (error) {
        logger.debug(
          `${batch.length} journey steps were dropped: they could not be written (${(error as Error).message})`,
          {
            steps: batch.length,
            error: (error as Error).message,
          },
        );
      } finally {
        waiting -= batch.length;
        if (dropped > 0) {
          logger.debug(`${dropped} journey steps were dropped: ${MAX_WAITING_STEPS} were waiting to be written`, {
            steps: dropped,
          });
          dropped = 0;
        }
      }
    },
    { spacingMs: JOURNAL_SPACING_MS },
  );

  return {
    record(customerId, step, traceId) {
      if (waiting >= MAX_WAITING_STEPS) {
        dropped += 1;
        return;
      }
      try {
        const entry: JourneyEntry = { customerId, step: { ...step, at: isoTime(step.at) }, traceId };
        waiting += 1;
        latest = write(entry);
      } catch (error) {
        logger.debug(`A journey step of customer ${customerId} was dropped (${(error as Error).message})`, {
          customerId,
        });
      }
    },
    async flush() {
      let awaited: Promise<void>;
      do {
        awaited = latest;
        await awaited;
      } while (awaited !== latest);
    },
  };
}

function journeyFrom(customerId: number, steps: RecordedStep[]): Journey | undefined {
  if (steps.length === 0) return undefined;
  return { customerId, traceId: steps.findLast((step) => step.traceId !== null)?.traceId ?? null, steps };
}

/** A customer's journey: every step kept, in time order. Throws a 404 for a customer with none. */
export async function journeyOf(deps: { store: SyncStore }, customerId: number): Promise<Journey> {
  const journey = journeyFrom(customerId, await deps.store.journeyOf(customerId));
  if (!journey)
    throw notFound(
      `Customer ${customerId} has no journey: the middleware has not seen them, or not within JOURNEY_RETENTION_DAYS.`,
    );
  return journey;
}

/** Where the trace viewer shows a trace: TRACE_UI_URL with `{traceId}` replaced; null without either. */
export function traceUrlOf(template: string | undefined, traceId: string | null): string | null {
  return template === undefined || traceId === null
    ? null
    : template.replaceAll('{traceId}', encodeURIComponent(traceId));
}

type JourneyViewDeps = { store: SyncStore; traceUiUrl: string | undefined };

const viewOf = (deps: JourneyViewDeps, journey: Journey): JourneyView => ({
  customerId: journey.customerId,
  traceId: journey.traceId,
  traceUrl: traceUrlOf(deps.traceUiUrl, journey.traceId),
  steps: journey.steps,
});

/** A customer's journey with the link to its trace; 404 for a customer never seen. */
export async function describeJourney(deps: JourneyViewDeps, customerId: number): Promise<JourneyView> {
  return viewOf(deps, await journeyOf(deps, customerId));
}

/**
 * The journeys of a customer as a list: the one there is, or none. For a caller that must not
 * meet a 404 for a customer never seen (the status page: a browser logs every 404 as an error).
 */
export async function findJourneys(deps: JourneyViewDeps, customerId: number): Promise<JourneyView[]> {
  const journey = journeyFrom(customerId, await deps.store.journeyOf(customerId));
  return journey ? [viewOf(deps, journey)] : [];
}
