import { StorageFullError } from '@welcome/common';
import type { CrmClient, CustomerRecord, UnusableRecord } from '../clients/crm-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { DeliveryPath, SyncStore } from '../store/sync-store.js';
import { answerFor, deadLetter, type DeliveryDeps, type DeliveryResult } from './delivery.js';

/**
 * How many CRM pages one cycle reads at most. A longer backlog is read by the next cycle, which
 * then starts at once; a CRM that keeps inventing next pages cannot hold a cycle forever.
 */
export const MAX_PAGES_PER_CYCLE = 50;

export interface SyncDeps extends DeliveryDeps {
  crm: CrmClient;
  store: SyncStore;
  inFlight: Map<number, Promise<DeliveryResult>>;
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
   * True when the cycle moved the cursor: a CRM that just had new customers may well have more by
   * now (a burst, or more pages than one cycle reads), so the next cycle starts at once. The
   * poller sleeps only after a cycle that found nothing to deliver.
   */
  more?: boolean;
}

/** A record from the CRM that cannot be delivered is kept, with what is wrong with it. */
export function deadLetterUnusable(deps: SyncDeps, record: UnusableRecord): 'deadLettered' {
  const reason = `The CRM record is unusable: ${record.problem}`;
  const which = record.id === undefined ? 'A CRM record without a usable id' : `Customer ${record.id} from the CRM`;
  deadLetter(
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
  for await (const page of deps.crm.customersAfter(cursor, 100, { waitS: deps.longPollS, ...(signal ? { signal } : {}) })) {
    pages += 1;
    unidentified.push(...page.unidentified);
    for (const record of page.records) {
      if (record.id < highest) outOfOrder = true;
      highest = Math.max(highest, record.id);
      if (record.id <= cursor) continue;
      if (byId.has(record.id)) {
        deps.logger.warn(`The CRM sent customer ${record.id} twice in one walk; keeping the first`, { customerId: record.id });
        continue;
      }
      byId.set(record.id, record);
    }
    if (pages >= MAX_PAGES_PER_CYCLE) break;
  }
  if (outOfOrder) deps.logger.warn('The CRM sent customers out of id order; delivering them in id order', { cursor });
  deps.store.recordCrmHighest(highest);
  return { records: [...byId.values()].sort((a, b) => a.id - b.id), unidentified };
}

/** How many customers handled in a row between two saves of the cursor during a long walk (and at its end). */
const CURSOR_SAVE_EVERY = 100;

/**
 * Delivers the walk's customers, up to `deps.concurrency` at once, taken in id order. The cursor
 * moves only past the run of customers from the start of the walk that are all handled
 * (confirmed or dead-lettered), so a crash at any instant never skips one. The first failure
 * stops new deliveries; those in flight finish, and the failure is returned.
 */
async function deliverInOrder(
  deps: SyncDeps,
  records: CustomerRecord[],
  report: CycleReport,
  shouldStop: () => boolean,
): Promise<{ through?: number; error?: unknown; interrupted: boolean }> {
  const handled: boolean[] = records.map(() => false);
  let next = 0;
  let run = 0; // records[0 .. run) are all handled
  let saved = 0;
  let error: unknown;
  const save = () => {
    if (run > saved) deps.store.advanceCursor(records[run - 1]!.id);
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
          report[deadLetterUnusable(deps, record)] += 1;
          markHandled(index);
          continue;
        }
        // The next customer is asked for while this one's outcome waits for its group commit.
        const { result, committed } = await answerFor(deps, record.customer, deps.pollPath);
        commits.push(
          committed.then(
            () => {
              if (result.outcome === 'created' || result.outcome === 'alreadyThere' || result.outcome === 'deadLettered') report[result.outcome] += 1;
              try {
                markHandled(index);
              } catch (caught) {
                // Saving the cursor failed (a full disk): the cycle stops here, as for any failed write.
                error ??= caught;
              }
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
  await Promise.all(commits);
  try {
    save();
  } catch (caught) {
    error ??= caught;
  }
  return { ...(run > 0 ? { through: records[run - 1]!.id } : {}), ...(error !== undefined ? { error } : {}), interrupted: next < records.length };
}

/**
 * One poll: every customer after the cursor, in id order, gets its package. The CRM may ignore
 * `after` and send everything, so the cursor is applied here too. An unavailable upstream ends the
 * cycle where it is; the next cycle starts from the same customer.
 */
export async function syncNewCustomers(deps: SyncDeps, shouldStop: () => boolean = () => false, signal?: AbortSignal): Promise<CycleReport> {
  const report: CycleReport = { found: 0, created: 0, alreadyThere: 0, deadLettered: 0 };
  const started = deps.store.cursor();
  let cursor = started;
  deps.logger.debug(`Sync cycle started at cursor ${cursor}`, { cursor });
  try {
    deps.store.markPollStarted(deps.now());
    const walk = await readNewCustomers(deps, cursor, signal);
    for (const record of walk.unidentified) deadLetterUnusable(deps, record);
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
    if (run.through !== undefined) cursor = run.through;
    if (run.error !== undefined) throw run.error;
    if (run.interrupted) {
      report.interrupted = true;
      return report;
    }
    // Drain, then sleep: only a cycle that moved the cursor earns an immediate next one.
    if (cursor > started) report.more = true;
  } catch (error) {
    if (signal?.aborted) {
      // Shutdown cut a held long poll short: not an outage.
      report.interrupted = true;
      return report;
    }
    if (error instanceof StorageFullError) {
      // The storage guard has said so once; the customer in flight is sent again once there is
      // space, and the Inventory answers that resend with 200.
      report.failure = error.detail;
      deps.logger.debug(`Sync cycle stopped at cursor ${cursor}: the middleware's own disk is full`, { cursor });
      return report;
    }
    if (!(error instanceof UpstreamUnavailableError)) throw error;
    report.failure = error.message;
    const began = deps.store.markCycleFailed(error.upstream, error.message, deps.now());
    const fields = { upstream: error.upstream, cursor, error: error.message };
    if (began) {
      deps.logger.error(`${error.message}. Outage began: the cycle stopped at cursor ${cursor}; later cycles back off until it answers`, fields);
    } else {
      deps.logger.debug(`${error.message}; still in the outage, cursor ${cursor}`, fields);
    }
    return report;
  }
  const ended = deps.store.markCycleSucceeded(deps.now());
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
}

/** The one line a minute an idle middleware says: where it stands and that it is still polling. */
export function logIdleSummary(deps: SyncDeps): void {
  const status = deps.store.status();
  const ago = status.lastSuccessAt === null ? 'never' : `${Math.round((deps.now().getTime() - Date.parse(status.lastSuccessAt)) / 1000)} s ago`;
  deps.logger.info(`idle: cursor ${status.cursor}, lag ${status.lag}, last success ${ago}`, {
    cursor: status.cursor,
    lag: status.lag,
    lastSuccessAt: status.lastSuccessAt,
  });
}
