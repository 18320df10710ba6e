import type { Logger } from '@welcome/common';
import type { CrmClient, CrmCustomer, CustomerRecord } from '../clients/crm-client.js';
import type { InventoryClient } from '../clients/inventory-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { SyncStore } from '../store/sync-store.js';

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
}

type Delivery = 'created' | 'alreadyThere' | 'deadLettered';

/**
 * Gets one customer's welcome package made and records the result together with the cursor, so
 * a crash at any point either repeats this customer (and the Inventory answers 200) or moves on.
 */
export async function deliverWelcomePackage(deps: SyncDeps, customer: CrmCustomer): Promise<Delivery> {
  const outcome = await deps.inventory.requestPackage({ customerId: customer.id, customerName: customer.name });
  const fields = { customerId: customer.id, customerName: customer.name };
  if (outcome.kind === 'refused') {
    deps.store.recordDeadLetter(
      { customerId: customer.id, customer, status: outcome.status, reason: outcome.answer },
      deps.now(),
    );
    deps.logger.warn(`The Inventory refused customer ${customer.id} with ${outcome.status}; dead-lettered, moving on`, {
      ...fields,
      status: outcome.status,
      answer: outcome.answer,
    });
    return 'deadLettered';
  }
  deps.store.recordDelivered(customer.id, outcome.kind);
  deps.logger.info(
    outcome.kind === 'created'
      ? `Welcome package ${outcome.packageId} created for customer ${customer.id}`
      : `Welcome package ${outcome.packageId} was already there for customer ${customer.id}`,
    { ...fields, packageId: outcome.packageId, outcome: outcome.kind },
  );
  return outcome.kind;
}

function deadLetterUnusableRecord(deps: SyncDeps, record: Extract<CustomerRecord, { problem: string }>): Delivery {
  const reason = `The CRM record is unusable: ${record.problem}`;
  deps.store.recordDeadLetter({ customerId: record.id, customer: record.raw, status: null, reason }, deps.now());
  deps.logger.warn(`Customer ${record.id} from the CRM is unusable; dead-lettered, moving on`, {
    customerId: record.id,
    reason,
  });
  return 'deadLettered';
}

/**
 * One poll: every customer after the cursor, in id order, gets its package. The CRM may ignore
 * `after` and send everything, so the cursor is applied here too. An unavailable upstream ends the
 * cycle where it is; the next cycle starts from the same customer.
 */
export async function syncNewCustomers(deps: SyncDeps, shouldStop: () => boolean = () => false): Promise<CycleReport> {
  const report: CycleReport = { found: 0, created: 0, alreadyThere: 0, deadLettered: 0 };
  let cursor = deps.store.cursor();
  deps.store.markPollStarted(deps.now());
  deps.logger.info(`Sync cycle started at cursor ${cursor}`, { cursor });
  try {
    for await (const page of deps.crm.customersAfter(cursor)) {
      for (const entry of page.unidentified) {
        deps.logger.warn('The CRM sent a record without a usable id; skipping it', { problem: entry.problem, record: entry.raw });
      }
      const fresh = page.records.filter((record) => record.id > cursor).sort((a, b) => a.id - b.id);
      if (fresh.length === 0) continue;
      report.found += fresh.length;
      deps.logger.info(`Found ${fresh.length} new customer(s) after cursor ${cursor}`, {
        cursor,
        count: fresh.length,
        firstId: fresh[0]?.id,
        lastId: fresh.at(-1)?.id,
      });
      for (const record of fresh) {
        if (shouldStop()) {
          report.interrupted = true;
          return report;
        }
        const delivery = record.problem === undefined ? await deliverWelcomePackage(deps, record.customer) : deadLetterUnusableRecord(deps, record);
        report[delivery] += 1;
        cursor = record.id;
      }
    }
  } catch (error) {
    if (!(error instanceof UpstreamUnavailableError)) throw error;
    report.failure = error.message;
    deps.store.markCycleFailed(error.message);
    deps.logger.error(`${error.message}; the cycle stopped at cursor ${cursor} and the next cycle tries again`, {
      upstream: error.upstream,
      cursor,
      error: error.message,
    });
    return report;
  }
  deps.store.markCycleSucceeded(deps.now());
  if (report.found > 0) {
    deps.logger.info(`Sync cycle done: cursor now ${cursor}`, { cursor, ...report });
  }
  return report;
}
