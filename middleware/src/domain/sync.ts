import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import { inSpan, isDatabaseUnavailable, StorageFullError } from '@welcome/common';
import type { CrmClient, CustomerRecord, UnusableRecord } from '../clients/crm-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { DeliveryPath, SyncStatus } from '../store/sync-store.js';
import { viewOf, type ReconciliationView } from './reconciliation.js';
import {
  abandonReservation,
  deadLetter,
  deliverReserved,
  inCustomerSpan,
  reserveCustomers,
  type RecordedDelivery,
  type Reservation,
} from './delivery.js';

/**
 * How many CRM pages one cycle reads at most. A longer backlog is read by the next cycle, which
 * then starts at once; a CRM that keeps inventing next pages cannot hold a cycle forever.
 */
export const MAX_PAGES_PER_CYCLE = 50;

/** What the poller and every other stateful path of the middleware are built from: a recorded delivery, and the CRM. */
export interface SyncDeps extends RecordedDelivery {
  crm: CrmClient;
  /** How the poller's customers arrive: by long poll when LONG_POLL_S is set, else by plain poll. */
  pollPath: DeliveryPath;
  /** LONG_POLL_S: how long each CRM read may be held waiting for a new customer; 0 for none. */
  longPollS: number;
  /** DELIVERY_CONCURRENCY: how many customers' packages are asked for at once. */
  concurrency: number;
}

export interface CycleReport {
  found: number;
  created: number;
  alreadyThere: number;
  deadLettered: number;
  /** Why the cycle stopped early, if it did: the cursor stays where the last handled customer left it. */
  failure?: string;
  /** True when a stop was asked for and the cycle ended after the customer in flight. */
  interrupted?: boolean;
  /**
   * True when the cycle delivered customers or moved the cursor: a CRM that just had new customers
   * may well have more by now (a burst, or more pages than one cycle reads, or a backlog other
   * replicas are working through), so the next cycle starts at once. The poller sleeps only after
   * a cycle that had nothing to deliver.
   */
  more?: boolean;
}

/** A record from the CRM that cannot be delivered is kept, with what is wrong with it. */
export async function deadLetterUnusable(deps: SyncDeps, record: UnusableRecord): Promise<'deadLettered'> {
  const reason = `The CRM record is unusable: ${record.problem}`;
  const which = record.id === undefined ? 'A CRM record without a usable id' : `Customer ${record.id} from the CRM`;
  await deadLetter(
    deps,
    { customerId: record.id ?? null, customer: record.raw, status: null, reason },
    `${which} is unusable (${record.problem}); dead-lettered, moving on`,
    { customerId: record.id, reason, record: record.raw },
  );
  return 'deadLettered';
}

interface Walk {
  /** Customers after the cursor, each once, in id order: the order the cursor needs. */
  records: CustomerRecord[];
  unidentified: UnusableRecord[];
}

/**
 * Reads every page after the cursor before delivering anything, so that a CRM sending ids out
 * of order cannot make the cursor jump past a customer it sends later in the same walk.
 */
async function readNewCustomers(deps: SyncDeps, cursor: number, signal?: AbortSignal): Promise<Walk> {
  const byId = new Map<number, CustomerRecord>();
  const unidentified: UnusableRecord[] = [];
  let pages = 0;
  let highest = 0;
  let outOfOrder = false;
  for await (const page of deps.crm.customersAfter(cursor, 100, {
    waitS: deps.longPollS,
    ...(signal ? { signal } : {}),
  })) {
    pages += 1;
    unidentified.push(...page.unidentified);
    for (const record of page.records) {
      if (record.id < highest) outOfOrder = true;
      highest = Math.max(highest, record.id);
      if (record.id <= cursor) continue;
      if (byId.has(record.id)) {
        deps.logger.warn(`The CRM sent customer ${record.id} twice in one walk; keeping the first`, {
          customerId: record.id,
        });
        continue;
      }
      byId.set(record.id, record);
    }
    if (pages >= MAX_PAGES_PER_CYCLE) break;
  }
  if (outOfOrder) deps.logger.warn('The CRM sent customers out of id order; delivering them in id order', { cursor });
  await deps.store.recordCrmHighest(highest);
  return { records: [...byId.values()].sort((a, b) => a.id - b.id), unidentified };
}

/** How many customers handled in a row between two saves of the cursor during a long walk (and at its end). */
const CURSOR_SAVE_EVERY = 100;

/**
 * Claims the walk's customers ahead of the workers, `window` at a time in one claim of the store,
 * the next window as the workers reach the middle of the one before: one round trip to the store
 * for many customers, and no customer held long before it is asked for. Whatever is still held
 * when the walk ends early is given back.
 */
function claimsAhead(deps: SyncDeps, records: CustomerRecord[], window: number) {
  const reserved = new Map<number, { batch: Promise<Reservation[]>; at: number }>();
  let until = 0;
  const reserveNext = () => {
    const from = until;
    until = Math.min(records.length, from + window);
    const indexes: number[] = [];
    for (let index = from; index < until; index++) if (records[index]!.problem === undefined) indexes.push(index);
    if (indexes.length === 0) return;
    const batch = reserveCustomers(
      deps,
      indexes.map((index) => records[index]!.id),
    );
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
          if (reservation) await abandonReservation(deps, records[index]!.id, reservation);
        }),
      );
    },
  };
}

/**
 * Delivers the walk's customers, up to `deps.concurrency` at once, taken in id order. A customer
 * another replica holds is left to it. The cursor moves only past the run of customers from the
 * start of the walk that are all handled (confirmed or dead-lettered, here or by another replica),
 * so a crash at any instant never skips one. The first failure stops new deliveries; those in
 * flight finish, and the failure is returned.
 */
async function deliverInOrder(
  deps: SyncDeps,
  records: CustomerRecord[],
  report: CycleReport,
  shouldStop: () => boolean,
): Promise<{ through?: number; error?: unknown; interrupted: boolean; asked: number }> {
  const handled: boolean[] = records.map(() => false);
  const heldElsewhere: number[] = [];
  const claims = claimsAhead(deps, records, deps.concurrency);
  let next = 0;
  let run = 0; // records[0 .. run) are all handled
  let saved = 0;
  let asked = 0;
  let error: unknown;
  const saves: Array<Promise<void>> = [];
  const save = () => {
    if (run <= saved) return;
    saves.push(
      deps.store.advanceCursor(records[run - 1]!.id).catch((caught: unknown) => {
        // Saving the cursor failed (a full disk, a database out of reach): the cycle stops here.
        error ??= caught;
      }),
    );
    saved = run;
  };
  const commits: Array<Promise<void>> = [];
  const markHandled = (index: number) => {
    handled[index] = true;
    while (run < records.length && handled[run]) run += 1;
    if (run - saved >= CURSOR_SAVE_EVERY) save();
  };
  const worker = async () => {
    while (error === undefined && !shouldStop() && next < records.length) {
      const index = next++;
      const record = records[index]!;
      try {
        if (record.problem !== undefined) {
          report[await deadLetterUnusable(deps, record)] += 1;
          markHandled(index);
          continue;
        }
        // The next customer is asked for while this one's outcome waits for its group commit.
        const reservation = await claims.take(index);
        const deliver = () => deliverReserved(deps, record.customer, deps.pollPath, reservation, record.trace);
        // Only the customer this replica asks for has a span of its own: one known already adds nothing to its trace.
        const answered = await (reservation.kind === 'claimed'
          ? inCustomerSpan(record, deps.pollPath, deliver)
          : deliver());
        if (answered === undefined) {
          heldElsewhere.push(index);
          continue;
        }
        const { result, committed } = answered;
        if (!result.repeat) asked += 1;
        commits.push(
          committed.then(
            () => {
              if (
                result.outcome === 'created' ||
                result.outcome === 'alreadyThere' ||
                result.outcome === 'deadLettered'
              )
                report[result.outcome] += 1;
              markHandled(index);
            },
            (caught: unknown) => {
              error ??= caught;
            },
          ),
        );
      } catch (caught) {
        error ??= caught;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency, records.length) }, worker));
  await claims.giveBackTheRest();
  await Promise.all(commits);
  // Those other replicas held: asked about together, once this replica's own are done.
  if (error === undefined && heldElsewhere.length > 0) {
    try {
      const done = await deps.store.handledAmong(heldElsewhere.map((index) => records[index]!.id));
      for (const index of heldElsewhere) if (done.has(records[index]!.id)) markHandled(index);
    } catch (caught) {
      error ??= caught;
    }
  }
  save();
  await Promise.all(saves);
  return {
    ...(run > 0 ? { through: records[run - 1]!.id } : {}),
    ...(error !== undefined ? { error } : {}),
    interrupted: next < records.length,
    asked,
  };
}

/**
 * Why a cycle stopped for the middleware's own storage (a full disk, a database out of reach),
 * or undefined when it did not.
 */
function ownStorageFailure(error: unknown): string | undefined {
  if (error instanceof StorageFullError) return error.detail;
  if (isDatabaseUnavailable(error)) return (error as Error).message;
  return undefined;
}

/**
 * One poll: every customer after the cursor, in id order, gets its package. The CRM may ignore
 * `after` and send everything, so the cursor is applied here too. An unavailable upstream ends the
 * cycle where it is; the next cycle starts from the same customer.
 */
export function syncNewCustomers(
  deps: SyncDeps,
  shouldStop: () => boolean = () => false,
  signal?: AbortSignal,
): Promise<CycleReport> {
  const attributes = {
    'messaging.operation.type': 'receive',
    'messaging.destination.name': 'customer.created',
    'welcome.via': deps.pollPath,
  };
  return inSpan('poll CRM', { kind: SpanKind.CONSUMER, parent: ROOT_CONTEXT, attributes }, async (span) => {
    const report = await syncCycle(deps, shouldStop, signal);
    span?.setAttribute('messaging.batch.message_count', report.found);
    return report;
  });
}

async function syncCycle(deps: SyncDeps, shouldStop: () => boolean, signal?: AbortSignal): Promise<CycleReport> {
  const report: CycleReport = { found: 0, created: 0, alreadyThere: 0, deadLettered: 0 };
  let cursor: number | undefined;
  try {
    const started = await deps.store.cursor();
    cursor = started;
    deps.logger.debug(`Sync cycle started at cursor ${cursor}`, { cursor });
    await deps.store.markPollStarted(deps.now());
    const walk = await readNewCustomers(deps, cursor, signal);
    for (const record of walk.unidentified) await deadLetterUnusable(deps, record);
    report.found = walk.records.length;
    if (walk.records.length > 0) {
      deps.logger.info(`Found ${walk.records.length} new customer(s) after cursor ${cursor}`, {
        cursor,
        count: walk.records.length,
        firstId: walk.records[0]?.id,
        lastId: walk.records.at(-1)?.id,
      });
    }
    const run = await deliverInOrder(deps, walk.records, report, shouldStop);
    if (run.through !== undefined) cursor = Math.max(cursor, run.through);
    if (run.error !== undefined) throw run.error;
    if (run.interrupted) {
      report.interrupted = true;
      return report;
    }
    // Drain, then sleep: only a cycle that delivered or moved the cursor earns an immediate next one.
    if (run.asked > 0 || cursor > started) report.more = true;
    const ended = await deps.store.markCycleSucceeded(deps.now());
    if (ended) {
      const seconds = Math.round((deps.now().getTime() - Date.parse(ended.since)) / 100) / 10;
      deps.logger.info(`${ended.upstream} outage over after ${seconds} s; the backlog is delivered`, {
        upstream: ended.upstream,
        since: ended.since,
        seconds,
        cursor,
      });
    }
    if (report.found > 0) deps.logger.info(`Sync cycle done: cursor now ${cursor}`, { cursor, ...report });
    return report;
  } catch (error) {
    if (signal?.aborted) {
      // Shutdown cut a held long poll short: not an outage.
      report.interrupted = true;
      return report;
    }
    return await stopCycle(deps, report, error, cursor);
  }
}

/** Ends a cycle that met a failure: its own storage, or an upstream (an outage, said once); anything else is thrown. */
async function stopCycle(
  deps: SyncDeps,
  report: CycleReport,
  error: unknown,
  cursor: number | undefined,
): Promise<CycleReport> {
  const storage = ownStorageFailure(error);
  if (storage !== undefined) {
    // The storage guard or the database connection has said so once; the customers in flight are
    // sent again once it takes writes, and the Inventory answers those resends with 200.
    report.failure = storage;
    deps.logger.debug(
      `Sync cycle stopped at cursor ${cursor ?? 'unknown'}: the middleware's own storage cannot take it`,
      { cursor, error: storage },
    );
    return report;
  }
  if (!(error instanceof UpstreamUnavailableError)) throw error;
  report.failure = error.message;
  let began: boolean;
  try {
    began = await deps.store.markCycleFailed(error.upstream, error.message, deps.now());
  } catch (caught) {
    if (ownStorageFailure(caught) === undefined) throw caught;
    began = false;
  }
  const fields = { upstream: error.upstream, cursor, error: error.message };
  if (began) {
    deps.logger.error(
      `${error.message}. Outage began: the cycle stopped at cursor ${cursor}; later cycles back off until it answers`,
      fields,
    );
  } else {
    deps.logger.debug(`${error.message}; still in the outage, cursor ${cursor}`, fields);
  }
  return report;
}

/** Where delivery stands, the same on every replica, with the latest reconciliation (null before the first). */
export async function syncStatus(
  deps: SyncDeps,
): Promise<SyncStatus & { lastReconciliation: ReconciliationView | null }> {
  const [status, latest] = await Promise.all([deps.store.status(deps.now()), deps.store.latestReconciliation()]);
  return { ...status, lastReconciliation: latest ? viewOf(latest) : null };
}

/** The one line a minute an idle middleware says: where it stands and that it is still polling. */
export async function logIdleSummary(deps: SyncDeps): Promise<void> {
  let status: SyncStatus;
  try {
    status = await deps.store.status(deps.now());
  } catch (error) {
    if (ownStorageFailure(error) === undefined) throw error;
    return;
  }
  const ago =
    status.lastSuccessAt === null
      ? 'never'
      : `${Math.round((deps.now().getTime() - Date.parse(status.lastSuccessAt)) / 1000)} s ago`;
  deps.logger.info(`idle: cursor ${status.cursor}, lag ${status.lag}, last success ${ago}`, {
    cursor: status.cursor,
    lag: status.lag,
    lastSuccessAt: status.lastSuccessAt,
  });
}
