import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import { inSpan, isDatabaseUnavailable, StorageFullError, type Logger } from '@welcome/common';
import type { CrmClient, CustomerRecord, UnusableRecord } from '../clients/crm-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { DeliveryStore } from '../store/deliveries/delivery-store.js';
import type { StatusStore } from '../store/status/status-store.js';
import type { DeliveryCore } from './delivery/core.js';
import { DeliveryHeldError } from './flow/held.js';
import type { HoldReason } from './model/flow.js';
import type { DeliveryPath } from './model/delivery.js';

/**
 * How many CRM pages one cycle reads at most. A longer backlog is read by the next cycle, which
 * then starts at once; a CRM that keeps inventing next pages cannot hold a cycle forever.
 */
export const MAX_PAGES_PER_CYCLE = 50;

/** How the poller reads the CRM and delivers what it finds. */
export interface PollSettings {
  /** How the poller's customers arrive: by long poll when LONG_POLL_S is set, else by plain poll. */
  path: DeliveryPath;
  /** LONG_POLL_S: how long each CRM read may be held waiting for a new customer; 0 for none. */
  longPollS: number;
  /** DELIVERY_CONCURRENCY: how many customers' packages are asked for at once. */
  concurrency: number;
}

/** What a poll cycle takes: the CRM to read, the core to deliver through, the cursor and the cycle's marks. */
export interface Polling {
  crm: Pick<CrmClient, 'customersAfter'>;
  delivery: Pick<DeliveryCore, 'deliverInOrder' | 'deadLetterUnusable'>;
  deliveries: Pick<DeliveryStore, 'cursor'>;
  status: Pick<StatusStore, 'markPollStarted' | 'markCycleSucceeded' | 'markCycleFailed' | 'recordCrmHighest'>;
  poll: PollSettings;
  logger: Logger;
  now: () => Date;
}

export interface CycleReport {
  found: number;
  created: number;
  alreadyThere: number;
  deadLettered: number;
  /** Why the cycle stopped early, if it did: the cursor stays where the last handled customer left it. */
  failure?: string;
  /**
   * Set when flow control held the asks (a pause, a Retry-After, an open breaker): the cycle ended
   * there, the cursor holds, and the next one waits `untilMs` (when known). Not a failure.
   */
  held?: { reason: HoldReason; untilMs: number | null };
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

interface Walk {
  /** Customers after the cursor, each once, in id order: the order the cursor needs. */
  records: CustomerRecord[];
  unidentified: UnusableRecord[];
}

/**
 * Reads every page after the cursor before delivering anything, so that a CRM sending ids out
 * of order cannot make the cursor jump past a customer it sends later in the same walk.
 */
async function readNewCustomers(parts: Polling, cursor: number, signal?: AbortSignal): Promise<Walk> {
  const byId = new Map<number, CustomerRecord>();
  const unidentified: UnusableRecord[] = [];
  let pages = 0;
  let highest = 0;
  let outOfOrder = false;
  for await (const page of parts.crm.customersAfter(cursor, 100, {
    waitS: parts.poll.longPollS,
    ...(signal ? { signal } : {}),
  })) {
    pages += 1;
    unidentified.push(...page.unidentified);
    for (const record of page.records) {
      if (record.id < highest) outOfOrder = true;
      highest = Math.max(highest, record.id);
      if (record.id <= cursor) continue;
      if (byId.has(record.id)) {
        parts.logger.warn(`The CRM sent customer ${record.id} twice in one walk; keeping the first`, {
          customerId: record.id,
        });
        continue;
      }
      byId.set(record.id, record);
    }
    if (pages >= MAX_PAGES_PER_CYCLE) break;
  }
  if (outOfOrder) parts.logger.warn('The CRM sent customers out of id order; delivering them in id order', { cursor });
  await parts.status.recordCrmHighest(highest);
  return { records: [...byId.values()].sort((a, b) => a.id - b.id), unidentified };
}

/**
 * Why a cycle stopped for the middleware's own storage (a full disk, a database out of reach),
 * or undefined when it did not.
 */
export function ownStorageFailure(error: unknown): string | undefined {
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
  parts: Polling,
  shouldStop: () => boolean = () => false,
  signal?: AbortSignal,
): Promise<CycleReport> {
  const attributes = {
    'messaging.operation.type': 'receive',
    'messaging.destination.name': 'customer.created',
    'welcome.via': parts.poll.path,
  };
  return inSpan('poll CRM', { kind: SpanKind.CONSUMER, parent: ROOT_CONTEXT, attributes }, async (span) => {
    const report = await syncCycle(parts, shouldStop, signal);
    span?.setAttribute('messaging.batch.message_count', report.found);
    return report;
  });
}

async function syncCycle(parts: Polling, shouldStop: () => boolean, signal?: AbortSignal): Promise<CycleReport> {
  const report: CycleReport = { found: 0, created: 0, alreadyThere: 0, deadLettered: 0 };
  let cursor: number | undefined;
  try {
    const started = await parts.deliveries.cursor();
    cursor = started;
    parts.logger.debug(`Sync cycle started at cursor ${cursor}`, { cursor });
    await parts.status.markPollStarted(parts.now());
    const walk = await readNewCustomers(parts, cursor, signal);
    for (const record of walk.unidentified) await parts.delivery.deadLetterUnusable(record, parts.poll.path);
    report.found = walk.records.length;
    if (walk.records.length > 0) {
      parts.logger.info(`Found ${walk.records.length} new customer(s) after cursor ${cursor}`, {
        cursor,
        count: walk.records.length,
        firstId: walk.records[0]?.id,
        lastId: walk.records.at(-1)?.id,
      });
    }
    const run = await parts.delivery.deliverInOrder(walk.records, parts.poll.path, {
      concurrency: parts.poll.concurrency,
      shouldStop,
    });
    report.created += run.created;
    report.alreadyThere += run.alreadyThere;
    report.deadLettered += run.deadLettered;
    if (run.through !== undefined) cursor = Math.max(cursor, run.through);
    if (run.error !== undefined) throw run.error;
    if (run.interrupted) {
      report.interrupted = true;
      return report;
    }
    // Drain, then sleep: only a cycle that delivered or moved the cursor earns an immediate next one.
    if (run.asked > 0 || cursor > started) report.more = true;
    await tellOutageOver(parts, cursor);
    if (report.found > 0) parts.logger.info(`Sync cycle done: cursor now ${cursor}`, { cursor, ...report });
    return report;
  } catch (error) {
    if (signal?.aborted) {
      // Shutdown cut a held long poll short: not an outage.
      report.interrupted = true;
      return report;
    }
    return await stopCycle(parts, report, error, cursor);
  }
}

/** Marks the cycle a success, and says so once when that ends an outage. */
async function tellOutageOver(parts: Polling, cursor: number): Promise<void> {
  const ended = await parts.status.markCycleSucceeded(parts.now());
  if (!ended) return;
  const seconds = Math.round((parts.now().getTime() - Date.parse(ended.since)) / 100) / 10;
  parts.logger.info(`${ended.upstream} outage over after ${seconds} s; the backlog is delivered`, {
    upstream: ended.upstream,
    since: ended.since,
    seconds,
    cursor,
  });
}

/** Ends a cycle that met a failure: its own storage, or an upstream (an outage, said once); anything else is thrown. */
async function stopCycle(
  parts: Polling,
  report: CycleReport,
  error: unknown,
  cursor: number | undefined,
): Promise<CycleReport> {
  if (error instanceof DeliveryHeldError) {
    report.held = { reason: error.reason, untilMs: error.untilMs };
    parts.logger.debug(`Sync cycle held at cursor ${cursor ?? 'unknown'}: ${error.message}`, {
      cursor,
      reason: error.reason,
      untilMs: error.untilMs,
    });
    return report;
  }
  const storage = ownStorageFailure(error);
  if (storage !== undefined) {
    // The storage guard or the database connection has said so once; the customers in flight are
    // sent again once it takes writes, and the Inventory answers those resends with 200.
    report.failure = storage;
    parts.logger.debug(
      `Sync cycle stopped at cursor ${cursor ?? 'unknown'}: the middleware's own storage cannot take it`,
      { cursor, error: storage },
    );
    return report;
  }
  if (!(error instanceof UpstreamUnavailableError)) throw error;
  report.failure = error.message;
  let began: boolean;
  try {
    began = await parts.status.markCycleFailed(error.upstream, error.message, parts.now());
  } catch (caught) {
    if (ownStorageFailure(caught) === undefined) throw caught;
    began = false;
  }
  const fields = { upstream: error.upstream, cursor, error: error.message };
  if (began) {
    parts.logger.error(
      `${error.message}. Outage began: the cycle stopped at cursor ${cursor}; later cycles back off until it answers`,
      fields,
    );
  } else {
    parts.logger.debug(`${error.message}; still in the outage, cursor ${cursor}`, fields);
  }
  return report;
}
