import { StorageFullError, type Logger } from '@welcome/common';
import type { CrmClient, CrmCustomer, CustomerRecord, UnusableRecord } from '../clients/crm-client.js';
import type { InventoryClient } from '../clients/inventory-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { NewDeadLetter, SyncStore } from '../store/sync-store.js';

/**
 * How many CRM pages one cycle reads at most. A longer backlog is read by the next cycle, which
 * then starts at once; a CRM that keeps inventing next pages cannot hold a cycle forever.
 */
export const MAX_PAGES_PER_CYCLE = 50;

export interface SyncDeps {
  crm: CrmClient;
  inventory: InventoryClient;
  store: SyncStore;
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
  /** True when a stop was asked for and the cycle ended after the customer in flight. */
  interrupted?: boolean;
  /** True when the CRM had more pages than one cycle reads: the next cycle should start at once. */
  more?: boolean;
}

type Delivery = 'created' | 'alreadyThere' | 'deadLettered';

function deadLetter(deps: SyncDeps, letter: NewDeadLetter, message: string, fields: Record<string, unknown>): Delivery {
  const stored = deps.store.recordDeadLetter(letter, deps.now());
  // A record the CRM keeps sending is logged the first time, not every cycle.
  deps.logger.log(stored.attempts === 1 ? 'warn' : 'debug', message, { deadLetterId: stored.id, attempts: stored.attempts, ...fields });
  return 'deadLettered';
}

/**
 * Gets one customer's welcome package made and records the result together with the cursor, so
 * a crash at any point either repeats this customer (and the Inventory answers 200) or moves on.
 */
async function deliverWelcomePackage(deps: SyncDeps, customer: CrmCustomer): Promise<Delivery> {
  const outcome = await deps.inventory.requestPackage({ customerId: customer.id, customerName: customer.name });
  const fields = { customerId: customer.id, customerName: customer.name };
  if (outcome.kind === 'refused') {
    return deadLetter(
      deps,
      { customerId: customer.id, customer, status: outcome.status, reason: outcome.answer },
      `The Inventory refused customer ${customer.id} with ${outcome.status}; dead-lettered, moving on`,
      { ...fields, status: outcome.status, answer: outcome.answer },
    );
  }
  deps.store.recordDelivered(
    { customerId: customer.id, customerName: customer.name, packageId: outcome.packageId, outcome: outcome.kind },
    deps.now(),
  );
  deps.logger.info(
    outcome.kind === 'created'
      ? `Welcome package ${outcome.packageId} created for customer ${customer.id}`
      : `Welcome package ${outcome.packageId} was already there for customer ${customer.id}`,
    { ...fields, packageId: outcome.packageId, outcome: outcome.kind },
  );
  return outcome.kind;
}

function deadLetterUnusable(deps: SyncDeps, record: UnusableRecord): Delivery {
  const reason = `The CRM record is unusable: ${record.problem}`;
  const which = record.id === undefined ? 'A CRM record without a usable id' : `Customer ${record.id} from the CRM`;
  return deadLetter(
    deps,
    { customerId: record.id ?? null, customer: record.raw, status: null, reason },
    `${which} is unusable (${record.problem}); dead-lettered, moving on`,
    { customerId: record.id, reason, record: record.raw },
  );
}

interface Walk {
  /** Customers after the cursor, each once, in id order: the order the cursor needs. */
  records: CustomerRecord[];
  unidentified: UnusableRecord[];
  more: boolean;
}

/**
 * Reads every page after the cursor before delivering anything, so that a CRM sending ids out
 * of order cannot make the cursor jump past a customer it sends later in the same walk.
 */
async function readNewCustomers(deps: SyncDeps, cursor: number): Promise<Walk> {
  const byId = new Map<number, CustomerRecord>();
  const unidentified: UnusableRecord[] = [];
  let pages = 0;
  let highest = 0;
  let outOfOrder = false;
  let more = false;
  for await (const page of deps.crm.customersAfter(cursor)) {
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
    if (pages >= MAX_PAGES_PER_CYCLE) {
      more = true;
      break;
    }
  }
  if (outOfOrder) deps.logger.warn('The CRM sent customers out of id order; delivering them in id order', { cursor });
  deps.store.recordCrmHighest(highest);
  return { records: [...byId.values()].sort((a, b) => a.id - b.id), unidentified, more };
}

/**
 * One poll: every customer after the cursor, in id order, gets its package. The CRM may ignore
 * `after` and send everything, so the cursor is applied here too. An unavailable upstream ends the
 * cycle where it is; the next cycle starts from the same customer.
 */
export async function syncNewCustomers(deps: SyncDeps, shouldStop: () => boolean = () => false): Promise<CycleReport> {
  const report: CycleReport = { found: 0, created: 0, alreadyThere: 0, deadLettered: 0 };
  const started = deps.store.cursor();
  let cursor = started;
  deps.logger.debug(`Sync cycle started at cursor ${cursor}`, { cursor });
  try {
    deps.store.markPollStarted(deps.now());
    const walk = await readNewCustomers(deps, cursor);
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
    for (const record of walk.records) {
      if (shouldStop()) {
        report.interrupted = true;
        return report;
      }
      const delivery = record.problem === undefined ? await deliverWelcomePackage(deps, record.customer) : deadLetterUnusable(deps, record);
      report[delivery] += 1;
      cursor = record.id;
    }
    // Only a walk that moved the cursor earns an immediate next cycle.
    if (walk.more && cursor > started) report.more = true;
  } catch (error) {
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
