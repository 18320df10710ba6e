import { groupCommit, notFound, type Logger } from '@welcome/common';
import type { JourneyStore } from '../store/journeys/journey-store.js';
import type { Journal } from './delivery/ask.js';
import type { JourneyEntry, JourneyView, RecordedStep } from './model/journey.js';

export type { Journal } from './delivery/ask.js';

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

/**
 * Where each customer's steps are noted. Never throws, never waits: steps are written in groups,
 * a failed write is logged at debug and dropped.
 */
export function createJournal(parts: { journeys: Pick<JourneyStore, 'record'>; logger: Logger }): Journal {
  const { journeys, logger } = parts;
  let waiting = 0;
  let dropped = 0;
  // Groups are written one after the other and never fail (a failure is logged and dropped
  // here), so the promise of the latest step recorded settles after every one before it.
  let latest: Promise<void> = Promise.resolve();
  const write = groupCommit<JourneyEntry>(
    async (batch) => {
      try {
        await journeys.record(batch);
      } catch (error) {
        const message = (error as Error).message;
        logger.debug(`${batch.length} journey steps were dropped: they could not be written (${message})`, {
          steps: batch.length,
          error: message,
        });
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

/** Where the trace viewer shows a trace: TRACE_UI_URL with `{traceId}` replaced; null without either. */
export function traceUrlOf(template: string | undefined, traceId: string | null): string | null {
  return template === undefined || traceId === null
    ? null
    : template.replaceAll('{traceId}', encodeURIComponent(traceId));
}

/** What showing a journey takes: the steps kept, and TRACE_UI_URL. */
export interface JourneyViews {
  journeys: Pick<JourneyStore, 'stepsOf'>;
  traceUiUrl: string | undefined;
}

function viewOf(views: JourneyViews, customerId: number, steps: RecordedStep[]): JourneyView | undefined {
  if (steps.length === 0) return undefined;
  const traceId = steps.findLast((step) => step.traceId !== null)?.traceId ?? null;
  return { customerId, traceId, traceUrl: traceUrlOf(views.traceUiUrl, traceId), steps };
}

/** A customer's journey, every step kept in time order, with the link to its trace; 404 for a customer never seen. */
export async function describeJourney(views: JourneyViews, customerId: number): Promise<JourneyView> {
  const journey = viewOf(views, customerId, await views.journeys.stepsOf(customerId));
  if (!journey)
    throw notFound(
      `Customer ${customerId} has no journey: the middleware has not seen them, or not within JOURNEY_RETENTION_DAYS.`,
    );
  return journey;
}

/**
 * The journeys of a customer as a list: the one there is, or none. For a caller that must not
 * meet a 404 for a customer never seen (the status page: a browser logs every 404 as an error).
 */
export async function findJourneys(views: JourneyViews, customerId: number): Promise<JourneyView[]> {
  const journey = viewOf(views, customerId, await views.journeys.stepsOf(customerId));
  return journey ? [journey] : [];
}
