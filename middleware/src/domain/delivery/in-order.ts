import type { CustomerRecord, UnusableRecord } from '../../clients/crm-client.js';
import type { DeliveryStore } from '../../store/deliveries/delivery-store.js';
import type { DeliveryPath } from '../model/delivery.js';
import { DeliveryHeldError } from '../flow/held.js';
import { inCustomerSpan, type Deliverable } from './ask.js';
import type { Reservation, Reservations } from './reservations.js';
import type { Answered } from './settle.js';

/** How many customers handled in a row between two saves of the cursor during a long walk (and at its end). */
const CURSOR_SAVE_EVERY = 100;

/** What a walk delivered, how far the cursor moved, and why it stopped early if it did. */
export interface InOrderRun {
  created: number;
  alreadyThere: number;
  deadLettered: number;
  /** The last customer of the run, from the start of the walk, that is all handled. */
  through?: number;
  error?: unknown;
  /** A stop was asked for before every customer was taken. */
  interrupted: boolean;
  /** Customers this replica asked the Inventory for. */
  asked: number;
}

export interface InOrderParts {
  deliveries: Pick<DeliveryStore, 'advanceCursor' | 'handledAmong'>;
  reservations: Reservations;
  deliverReserved(record: Deliverable, path: DeliveryPath, reservation: Reservation): Promise<Answered | undefined>;
  deadLetterUnusable(record: UnusableRecord): Promise<unknown>;
}

/**
 * Claims the walk's customers ahead of the workers, `window` at a time in one claim of the store,
 * the next window as the workers reach the middle of the one before: one round trip to the store
 * for many customers, and no customer held long before it is asked for. Whatever is still held
 * when the walk ends early is given back.
 */
function claimsAhead(reservations: Reservations, records: readonly CustomerRecord[], window: number) {
  const reserved = new Map<number, { batch: Promise<Reservation[]>; at: number }>();
  let until = 0;
  const reserveNext = () => {
    const from = until;
    until = Math.min(records.length, from + window);
    const indexes: number[] = [];
    for (let index = from; index < until; index++) if (records[index]!.problem === undefined) indexes.push(index);
    if (indexes.length === 0) return;
    const batch = reservations.reserve(indexes.map((index) => records[index]!.id));
    // Each worker meets a failure of the batch where it takes its own customer from it.
    batch.catch(() => undefined);
    indexes.forEach((index, at) => reserved.set(index, { batch, at }));
  };
  return {
    async take(index: number): Promise<Reservation> {
      while (until < records.length && index + window / 2 >= until) reserveNext();
      const entry = reserved.get(index)!;
      reserved.delete(index);
      return (await entry.batch)[entry.at]!;
    },
    async giveBackTheRest(): Promise<void> {
      const left = [...reserved.entries()];
      reserved.clear();
      await Promise.all(
        left.map(async ([index, { batch, at }]) => {
          const reservation = (await batch.catch(() => undefined))?.[at];
          if (reservation) await reservations.abandon(records[index]!.id, reservation);
        }),
      );
    },
  };
}

/**
 * The run of handled customers from the start of the walk, and the cursor saved over it every
 * CURSOR_SAVE_EVERY customers and at the end: answers that come back out of order never let the
 * cursor pass a customer still in flight.
 */
function cursorRun(
  deliveries: InOrderParts['deliveries'],
  records: readonly CustomerRecord[],
  fail: (e: unknown) => void,
) {
  const handled: boolean[] = records.map(() => false);
  let run = 0; // records[0 .. run) are all handled
  let saved = 0;
  const saves: Array<Promise<void>> = [];
  const save = () => {
    if (run <= saved) return;
    // Saving the cursor failed (a full disk, a database out of reach): the cycle stops here.
    saves.push(deliveries.advanceCursor(records[run - 1]!.id).catch(fail));
    saved = run;
  };
  return {
    markHandled(index: number) {
      handled[index] = true;
      while (run < records.length && handled[run]) run += 1;
      if (run - saved >= CURSOR_SAVE_EVERY) save();
    },
    async end(): Promise<number | undefined> {
      save();
      await Promise.all(saves);
      return run > 0 ? records[run - 1]!.id : undefined;
    },
  };
}

/**
 * Delivers the walk's customers (each once, in id order), up to `concurrency` at once, taken in id
 * order. A customer another replica holds is left to it. The cursor moves only past the run of
 * customers from the start of the walk that are all handled (confirmed or dead-lettered, here or
 * by another replica), so a crash at any instant never skips one. The first failure stops new
 * deliveries; those in flight finish, and the failure is returned.
 */
export async function deliverInOrder(
  parts: InOrderParts,
  records: readonly CustomerRecord[],
  path: DeliveryPath,
  options: { concurrency: number; shouldStop: () => boolean },
): Promise<InOrderRun> {
  const report: InOrderRun = { created: 0, alreadyThere: 0, deadLettered: 0, interrupted: false, asked: 0 };
  let error: unknown;
  // The first failure stops the walk; one met while others were held (the breaker's probe failing
  // as the asks behind it are held) is what the cycle tells, not the holds.
  const fail = (caught: unknown) => {
    if (error === undefined || (error instanceof DeliveryHeldError && !(caught instanceof DeliveryHeldError)))
      error = caught;
  };
  const heldElsewhere: number[] = [];
  const claims = claimsAhead(parts.reservations, records, options.concurrency);
  const cursor = cursorRun(parts.deliveries, records, fail);
  const commits: Array<Promise<void>> = [];
  let next = 0;
  const counted = ({ result, committed }: Answered, index: number) =>
    committed.then(() => {
      if (result.outcome === 'created' || result.outcome === 'alreadyThere' || result.outcome === 'deadLettered')
        report[result.outcome] += 1;
      cursor.markHandled(index);
    }, fail);
  const worker = async () => {
    while (error === undefined && !options.shouldStop() && next < records.length) {
      const index = next++;
      const record = records[index]!;
      try {
        if (record.problem !== undefined) {
          await parts.deadLetterUnusable(record);
          report.deadLettered += 1;
          cursor.markHandled(index);
          continue;
        }
        // The next customer is asked for while this one's outcome waits for its group commit.
        const reservation = await claims.take(index);
        const deliver = () => parts.deliverReserved(record, path, reservation);
        // Only the customer this replica asks for has a span of its own: one known already adds nothing to its trace.
        const answered = await (reservation.kind === 'claimed' ? inCustomerSpan(record, path, deliver) : deliver());
        if (answered === undefined) {
          heldElsewhere.push(index);
          continue;
        }
        if (!answered.result.repeat) report.asked += 1;
        commits.push(counted(answered, index));
      } catch (caught) {
        fail(caught);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, records.length) }, worker));
  await claims.giveBackTheRest();
  await Promise.all(commits);
  // Those other replicas held: asked about together, once this replica's own are done.
  if (error === undefined && heldElsewhere.length > 0) {
    try {
      const done = await parts.deliveries.handledAmong(heldElsewhere.map((index) => records[index]!.id));
      for (const index of heldElsewhere) if (done.has(records[index]!.id)) cursor.markHandled(index);
    } catch (caught) {
      fail(caught);
    }
  }
  const through = await cursor.end();
  return {
    ...report,
    ...(through !== undefined ? { through } : {}),
    ...(error !== undefined ? { error } : {}),
    interrupted: next < records.length,
  };
}
