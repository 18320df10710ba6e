import type { Logger } from '@welcome/common';
import type { CrmClient, CrmCustomer, CustomerRecord } from '../../clients/crm-client.js';
import type { InventoryClient, InventoryPackage } from '../../clients/inventory-client.js';
import type { DeadLetterStore } from '../../store/dead-letters/dead-letter-store.js';
import type { ReconciliationStore } from '../../store/reconciliations/reconciliation-store.js';
import type { DeliveryCore } from '../delivery/core.js';
import type { Finding, FindingCounts, Reconciliation, ReconciliationProgress } from '../model/reconciliation.js';
import { customersBetween, eachAtMost, packagesBetween, peekable } from './pages.js';

/** Ids compared between two saves of a walk's progress. */
const SAVE_EVERY = 1000;
/** Missing customers repaired between two saves: each save renews the lease, and repairs may be slow. */
const REPAIRS_PER_SAVE = 64;
/** Missing customers repaired at once, beside the deliveries that go on meanwhile. */
const REPAIR_CONCURRENCY = 8;
/**
 * Packages beyond the cursor looked at, one CRM request each: normally only those a webhook
 * delivered ahead of the cursor; a middleware far behind its Inventory stops there.
 */
const BEYOND_CURSOR_AT_MOST = 1000;

/** What a walk takes: both upstreams, the core to repair through, and where its progress is saved. */
export interface Walking {
  crm: Pick<CrmClient, 'customersAfter' | 'getCustomer'>;
  inventory: Pick<InventoryClient, 'packagesByCustomer'>;
  delivery: Pick<DeliveryCore, 'repair'>;
  reconciliations: Pick<ReconciliationStore, 'save'>;
  deadLetters: Pick<DeadLetterStore, 'deadLetteredAmong'>;
  owner: string;
  leaseMs: number;
  logger: Logger;
  now: () => Date;
}

type Missing = { finding: Finding; record: CustomerRecord & { customer: CrmCustomer } };

/**
 * One walk's findings as they are made, counted in the run's counts and in this process's tally;
 * the missing customers wait to be repaired together.
 */
function findingsOf(parts: Walking, run: Reconciliation, tally: FindingCounts) {
  const counts = { ...run.counts };
  let findings: Finding[] = [];
  let missing: Missing[] = [];
  // Reported, never changed: which name is right is for a person to say.
  const reported = (finding: Finding & { kind: 'mismatched' | 'orphaned' }) => {
    findings.push(finding);
    counts[finding.kind] += 1;
    tally[finding.kind] += 1;
  };
  return {
    counts,
    missingCount: () => missing.length,
    /** The findings since the last save, handed over once. */
    takeFindings() {
      const taken = findings;
      findings = [];
      return taken;
    },
    orphaned: (pkg: InventoryPackage) =>
      reported({
        kind: 'orphaned',
        customerId: pkg.customerId,
        packageId: pkg.id,
        packageCustomerName: pkg.customerName,
      }),
    mismatched: (pkg: InventoryPackage, customerName: string) =>
      reported({
        kind: 'mismatched',
        customerId: pkg.customerId,
        customerName,
        packageId: pkg.id,
        packageCustomerName: pkg.customerName,
      }),
    missing(record: Missing['record']) {
      const finding: Finding = { kind: 'missing', customerId: record.id, customerName: record.customer.name };
      findings.push(finding);
      missing.push({ finding, record });
    },
    /** A customer with a dead letter has no package and is not missing: its refusal is on the list. */
    async repairMissing() {
      if (missing.length === 0) return;
      const lettered = await parts.deadLetters.deadLetteredAmong(missing.map(({ record }) => record.id));
      const found = missing.filter(({ record }) => !lettered.has(record.id));
      findings = findings.filter((finding) => finding.kind !== 'missing' || !lettered.has(finding.customerId));
      missing = [];
      counts.missing += found.length;
      tally.missing += found.length;
      if (!run.repair) return;
      await eachAtMost(found, REPAIR_CONCURRENCY, async ({ finding, record }) => {
        const result = await parts.delivery.repair(record);
        if (result.outcome === 'created' || result.outcome === 'alreadyThere') {
          finding.repair = result.outcome;
          finding.packageId = result.packageId!;
          counts.repaired += 1;
          tally.repaired += 1;
        } else {
          finding.repair = 'deadLettered';
        }
      });
    },
  };
}

/**
 * Beyond the cursor, customers are not handled yet and none is missing; but a package there for a
 * customer the CRM does not have (or under another name) is found all the same. Each is asked of
 * the CRM now: a customer committed since its page was read is no orphan.
 */
async function lookBeyond(parts: Walking, run: Reconciliation, found: ReturnType<typeof findingsOf>) {
  let looked = 0;
  for await (const pkg of packagesBetween(parts.inventory, run.toId, Number.MAX_SAFE_INTEGER)) {
    if (++looked > BEYOND_CURSOR_AT_MOST) {
      parts.logger.warn(
        `Reconciliation ${run.id} looked at ${BEYOND_CURSOR_AT_MOST} packages beyond the cursor and no further`,
        { reconciliationId: run.id },
      );
      return;
    }
    const record = await parts.crm.getCustomer(pkg.customerId);
    if (record === undefined) found.orphaned(pkg);
    else if (record.problem === undefined && record.customer.name !== pkg.customerName)
      found.mismatched(pkg, record.customer.name);
  }
}

/**
 * Walks the customers and the packages side by side from the run's position, saving as it goes.
 * Resolves 'done' at the end of the range, 'stopped' when asked to stop, 'lost' when another
 * replica took the run over. Throws what stopped it otherwise, `saved` holding its last progress.
 */
export async function walkReconciliation(
  parts: Walking,
  run: Reconciliation,
  signal: AbortSignal,
  saved: { progress: ReconciliationProgress },
  tally: FindingCounts,
): Promise<'done' | 'stopped' | 'lost'> {
  const found = findingsOf(parts, run, tally);
  let position = run.position;
  let compared = 0;
  const save = async () => {
    await found.repairMissing();
    const progress = { position, counts: { ...found.counts }, findings: found.takeFindings() };
    const kept = await parts.reconciliations.save(run.id, parts.owner, progress, parts.now(), parts.leaseMs);
    saved.progress = { ...progress, findings: [] };
    compared = 0;
    return kept;
  };
  const customers = peekable(customersBetween(parts.crm, run.position, run.toId));
  const packages = peekable(packagesBetween(parts.inventory, run.position, run.toId));
  try {
    for (;;) {
      if (signal.aborted) return 'stopped';
      const customer = await customers.peek();
      const pkg = await packages.peek();
      if (customer === undefined && pkg === undefined) break;
      if (customer !== undefined && (pkg === undefined || customer.id < pkg.customerId)) {
        customers.take();
        position = customer.id;
        // An unusable record is a dead letter already, not a missing customer.
        if (customer.problem === undefined) found.missing(customer);
      } else if (pkg !== undefined && (customer === undefined || pkg.customerId < customer.id)) {
        packages.take();
        position = pkg.customerId;
        found.orphaned(pkg);
      } else {
        customers.take();
        packages.take();
        position = pkg!.customerId;
        if (customer!.problem === undefined && customer!.customer.name !== pkg!.customerName)
          found.mismatched(pkg!, customer!.customer.name);
      }
      compared += 1;
      if ((compared >= SAVE_EVERY || found.missingCount() >= REPAIRS_PER_SAVE) && !(await save())) return 'lost';
    }
    position = Math.max(position, run.toId);
    await found.repairMissing();
    if (run.openEnded) await lookBeyond(parts, run, found);
    saved.progress = { position, counts: found.counts, findings: found.takeFindings() };
    return 'done';
  } finally {
    await Promise.all([customers.close(), packages.close()]);
  }
}
