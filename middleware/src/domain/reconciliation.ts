import { AppError, isDatabaseUnavailable, notFound, StorageFullError } from '@welcome/common';
import type { CrmCustomer, CustomerRecord } from '../clients/crm-client.js';
import type { InventoryPackage } from '../clients/inventory-client.js';
import { UpstreamUnavailableError } from '../clients/upstream.js';
import type { Finding, FindingCounts, Reconciliation, ReconciliationProgress } from '../store/sync-store.js';
import { inCustomerSpan, repairCustomer } from './delivery.js';
import type { SyncDeps } from './sync.js';

/** Customers (and packages) read a page at a time: the most either list gives. */
export const RECONCILE_PAGE_SIZE = 1000;
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
/** How long a walk is held without a save before another replica (or this one) may take it over. */
export const RECONCILE_LEASE_MS = 60_000;
/** How often each replica looks for a walk to take over, and whether a scheduled one is due. */
export const RECONCILE_CHECK_MS = 15_000;

/** What `POST /reconciliations` asks for: every customer up to the cursor, repaired, unless it says otherwise. */
export interface ReconcileRequest {
  fromId?: number | undefined;
  toId?: number | undefined;
  repair?: boolean | undefined;
}

/** A reconciliation as the API shows it: its position as progress through the range. */
export type ReconciliationView = Omit<Reconciliation, 'position' | 'openEnded'> & {
  /** Ids checked (up to and including `checkedUpTo`) of the `total` in the range. */
  progress: { checkedUpTo: number; checked: number; total: number };
};

export function viewOf(run: Reconciliation): ReconciliationView {
  const { position, openEnded, id, status, fromId, toId, repair, ...rest } = run;
  const total = Math.max(0, toId - fromId + 1);
  const progress = { checkedUpTo: position, checked: Math.min(total, Math.max(0, position - fromId + 1)), total };
  return { id, status, fromId, toId, repair, progress, ...rest };
}

export interface Reconciler {
  /**
   * Starts a reconciliation unless one is running (on any replica): `started` tells which, `run`
   * is the new one or the running one. Throws a 400 AppError for a range that starts beyond the cursor.
   */
  start(request: ReconcileRequest): Promise<{ started: boolean; run: Reconciliation }>;
  /** Looks now and every RECONCILE_CHECK_MS for a walk to take over and, with an interval, for one that is due. */
  startTimers(): void;
  /**
   * Stops looking, and leaves a walk in progress here to be taken up again after the restart (or by another replica).
   */
  stop(): Promise<void>;
  /** Findings by kind and repairs made by this process's walks, for its metrics. */
  tally(): Readonly<FindingCounts>;
  /** Resolves once no walk is in progress here. */
  idle(): Promise<void>;
}

/** An async iterator whose next item can be looked at before it is taken. */
function peekable<T>(source: AsyncIterable<T>) {
  const iterator = source[Symbol.asyncIterator]();
  let head: IteratorResult<T> | undefined;
  return {
    async peek(): Promise<T | undefined> {
      head ??= await iterator.next();
      return head.done ? undefined : head.value;
    },
    take(): void {
      head = undefined;
    },
    async close(): Promise<void> {
      await iterator.return?.(undefined);
    },
  };
}

/**
 * Each item after `after` up to `toId`, in the order of `idOf`, from pages that must come in that
 * order: an upstream listing them otherwise (one that does not know the order asked for) would
 * make the walk find what is not there, so it ends the walk instead, as an upstream giving no
 * usable answer. Items up to `after` are skipped (an upstream that ignores `after` sends them).
 */
async function* inOrder<T>(
  pages: AsyncIterable<readonly T[]>,
  idOf: (item: T) => number,
  after: number,
  toId: number,
  disorder: () => UpstreamUnavailableError,
): AsyncGenerator<T> {
  let previous = 0;
  for await (const page of pages) {
    for (const item of page) {
      const id = idOf(item);
      if (id < previous) throw disorder();
      if (id === previous || id <= after) continue;
      if (id > toId) return;
      previous = id;
      yield item;
    }
  }
}

async function* recordsOf(pages: AsyncIterable<{ records: CustomerRecord[] }>) {
  for await (const page of pages) yield page.records;
}

/** The CRM's customers after `after` up to `toId`, one by one, in id order. */
const customersBetween = (deps: SyncDeps, after: number, toId: number) =>
  inOrder(
    recordsOf(deps.crm.customersAfter(after, RECONCILE_PAGE_SIZE)),
    (record) => record.id,
    after,
    toId,
    () => new UpstreamUnavailableError('CRM', 'it does not list its customers in id order'),
  );

/** The Inventory's packages of customers after `after` up to `toId`, one by one, in customer-id order. */
const packagesBetween = (deps: SyncDeps, after: number, toId: number) =>
  inOrder(
    deps.inventory.packagesByCustomer(after, RECONCILE_PAGE_SIZE),
    (pkg) => pkg.customerId,
    after,
    toId,
    () =>
      new UpstreamUnavailableError(
        'Inventory',
        'it does not list its packages in customer-id order (GET /packages?orderBy=customerId)',
      ),
  );

/**
 * Runs `act` on every item, at most `limit` at once; after a failure no more are started,
 * and the first failure is thrown once the others end.
 */
async function eachAtMost<T>(items: readonly T[], limit: number, act: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await act(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

const noCounts = (): FindingCounts => ({ missing: 0, mismatched: 0, orphaned: 0, repaired: 0 });

/** The database or the disk failed: the walk cannot even be marked, and its lease lets it be taken up again. */
const storageFailure = (error: unknown) => isDatabaseUnavailable(error) || error instanceof StorageFullError;

export function createReconciler(
  deps: SyncDeps,
  options: { intervalMs?: number; checkMs?: number; leaseMs?: number } = {},
): Reconciler {
  const leaseMs = options.leaseMs ?? RECONCILE_LEASE_MS;
  const owner = deps.claims.owner;
  const startedAt = deps.now().getTime();
  const tally = noCounts();
  let walking: Promise<void> | undefined;
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> = Promise.resolve();

  /**
   * Walks the customers and the packages side by side from the run's position, saving as it goes.
   * Resolves 'done' at the end of the range, 'stopped' when asked to stop, 'lost' when another
   * replica took the run over. Throws what stopped it otherwise, the last save being its progress.
   */
  const walk = async (run: Reconciliation, signal: AbortSignal, saved: { progress: ReconciliationProgress }) => {
    const counts = { ...run.counts };
    let position = run.position;
    let findings: Finding[] = [];
    let missing: Array<{ finding: Finding; record: CustomerRecord & { customer: CrmCustomer } }> = [];
    let compared = 0;

    // Reported, never changed: which name is right is for a person to say.
    const reported = (finding: Finding & { kind: 'mismatched' | 'orphaned' }) => {
      findings.push(finding);
      counts[finding.kind] += 1;
      tally[finding.kind] += 1;
    };
    const orphaned = (pkg: InventoryPackage) =>
      reported({
        kind: 'orphaned',
        customerId: pkg.customerId,
        packageId: pkg.id,
        packageCustomerName: pkg.customerName,
      });
    const mismatched = (pkg: InventoryPackage, customerName: string) =>
      reported({
        kind: 'mismatched',
        customerId: pkg.customerId,
        customerName,
        packageId: pkg.id,
        packageCustomerName: pkg.customerName,
      });

    // A customer with a dead letter has no package and is not missing: its refusal is on the list.
    const repairMissing = async () => {
      if (missing.length === 0) return;
      const lettered = await deps.store.deadLetteredAmong(missing.map(({ record }) => record.id));
      const found = missing.filter(({ record }) => !lettered.has(record.id));
      findings = findings.filter((finding) => finding.kind !== 'missing' || !lettered.has(finding.customerId));
      missing = [];
      counts.missing += found.length;
      tally.missing += found.length;
      if (!run.repair) return;
      await eachAtMost(found, REPAIR_CONCURRENCY, async ({ finding, record }) => {
        const result = await inCustomerSpan(record, 'reconciliation', () =>
          repairCustomer(deps, record.customer, record.trace),
        );
        if (result.outcome === 'created' || result.outcome === 'alreadyThere') {
          finding.repair = result.outcome;
          finding.packageId = result.packageId!;
          counts.repaired += 1;
          tally.repaired += 1;
        } else {
          finding.repair = 'deadLettered';
        }
      });
    };
    const save = async () => {
      await repairMissing();
      const progress = { position, counts: { ...counts }, findings };
      const kept = await deps.store.saveReconciliation(run.id, owner, progress, deps.now(), leaseMs);
      saved.progress = { ...progress, findings: [] };
      findings = [];
      compared = 0;
      return kept;
    };

    // Beyond the cursor, customers are not handled yet and none is missing; but a package there
    // for a customer the CRM does not have (or under another name) is found all the same. Each is
    // asked of the CRM now: a customer committed since its page was read is no orphan.
    const lookBeyond = async () => {
      let looked = 0;
      for await (const pkg of packagesBetween(deps, run.toId, Number.MAX_SAFE_INTEGER)) {
        if (++looked > BEYOND_CURSOR_AT_MOST) {
          deps.logger.warn(
            `Reconciliation ${run.id} looked at ${BEYOND_CURSOR_AT_MOST} packages beyond the cursor and no further`,
            { reconciliationId: run.id },
          );
          return;
        }
        const record = await deps.crm.getCustomer(pkg.customerId);
        if (record === undefined) orphaned(pkg);
        else if (record.problem === undefined && record.customer.name !== pkg.customerName)
          mismatched(pkg, record.customer.name);
      }
    };

    const customers = peekable(customersBetween(deps, run.position, run.toId));
    const packages = peekable(packagesBetween(deps, run.position, run.toId));
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
          if (customer.problem === undefined) {
            const finding: Finding = { kind: 'missing', customerId: customer.id, customerName: customer.customer.name };
            findings.push(finding);
            missing.push({ finding, record: customer });
          }
        } else if (pkg !== undefined && (customer === undefined || pkg.customerId < customer.id)) {
          packages.take();
          position = pkg.customerId;
          orphaned(pkg);
        } else {
          customers.take();
          packages.take();
          position = pkg!.customerId;
          if (customer!.problem === undefined && customer!.customer.name !== pkg!.customerName)
            mismatched(pkg!, customer!.customer.name);
        }
        compared += 1;
        if ((compared >= SAVE_EVERY || missing.length >= REPAIRS_PER_SAVE) && !(await save())) return 'lost';
      }
      position = Math.max(position, run.toId);
      await repairMissing();
      if (run.openEnded) await lookBeyond();
      saved.progress = { position, counts, findings };
      return 'done';
    } finally {
      await Promise.all([customers.close(), packages.close()]);
    }
  };

  const summary = (counts: FindingCounts) =>
    `${counts.missing} missing (${counts.repaired} repaired), ` +
    `${counts.mismatched} mismatched, ${counts.orphaned} orphaned`;

  const runWalk = async (run: Reconciliation, signal: AbortSignal) => {
    const fields = { reconciliationId: run.id, fromId: run.fromId, toId: run.toId, repair: run.repair };
    const saved = { progress: { position: run.position, counts: run.counts, findings: [] as Finding[] } };
    try {
      const ended = await walk(run, signal, saved);
      if (ended === 'stopped') {
        await deps.store.leaveReconciliation(run.id, owner);
        deps.logger.info(
          `Reconciliation ${run.id} stopped at id ${saved.progress.position}; it goes on after the restart`,
          fields,
        );
        return;
      }
      if (ended === 'lost') {
        deps.logger.warn(
          `Reconciliation ${run.id} was taken over by another replica; this one stops walking it`,
          fields,
        );
        return;
      }
      await deps.store.finishReconciliation(run.id, owner, saved.progress, { status: 'done' }, deps.now());
      const { counts } = saved.progress;
      const found = counts.missing + counts.mismatched + counts.orphaned;
      deps.logger.log(
        found > 0 ? 'warn' : 'info',
        `Reconciliation ${run.id} done, customers ${run.fromId} to ${run.toId}: ${summary(counts)}`,
        {
          ...fields,
          ...counts,
        },
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (storageFailure(error)) {
        deps.logger.warn(
          `Reconciliation ${run.id} could not be saved (${message}); it is taken up again once its lease ends`,
          fields,
        );
        return;
      }
      const what = error instanceof UpstreamUnavailableError ? message : `an unexpected error: ${message}`;
      await deps.store
        .finishReconciliation(run.id, owner, saved.progress, { status: 'failed', error: what }, deps.now())
        .catch(() => undefined);
      deps.logger.error(`Reconciliation ${run.id} failed after id ${saved.progress.position}: ${what}`, {
        ...fields,
        error: what,
      });
    }
  };

  const launch = (run: Reconciliation) => {
    const signal = stopping.signal;
    walking = runWalk(run, signal).finally(() => {
      walking = undefined;
    });
  };

  const start = async (request: ReconcileRequest) => {
    const cursor = await deps.store.cursor();
    const fromId = request.fromId ?? 1;
    if (request.fromId !== undefined && fromId > cursor) {
      throw new AppError(
        400,
        'beyond-cursor',
        `Customers after the cursor (${cursor}) are not handled yet: there is nothing to reconcile from ${fromId}.`,
        {
          errors: [{ field: 'fromId', message: `must be at most the cursor, ${cursor}` }],
        },
      );
    }
    const range = {
      fromId,
      toId: Math.min(request.toId ?? cursor, cursor),
      repair: request.repair ?? true,
      openEnded: request.toId === undefined,
    };
    const begun = await deps.store.startReconciliation(range, owner, deps.now(), leaseMs);
    if (begun.started) {
      deps.logger.info(
        `Reconciliation ${begun.run.id} started: customers ${range.fromId} to ${range.toId}, ` +
          `repair ${range.repair ? 'on' : 'off'}`,
        {
          reconciliationId: begun.run.id,
          ...range,
        },
      );
      launch(begun.run);
    }
    return begun;
  };

  const tick = async () => {
    try {
      if (walking === undefined) {
        const adopted = await deps.store.adoptReconciliation(owner, deps.now(), leaseMs);
        if (adopted) {
          deps.logger.info(`Reconciliation ${adopted.id} goes on after id ${adopted.position}`, {
            reconciliationId: adopted.id,
            position: adopted.position,
          });
          launch(adopted);
          return;
        }
      }
      if (options.intervalMs === undefined || walking !== undefined) return;
      const latest = await deps.store.latestReconciliation();
      const since = latest ? Date.parse(latest.startedAt) : startedAt;
      if (deps.now().getTime() - since >= options.intervalMs) await start({});
    } catch (error) {
      deps.logger.debug('The reconciliation check could not be made; the next one tries again', {
        error: (error as Error).message,
      });
    }
  };

  return {
    start,
    startTimers() {
      ticking = tick();
      timer = setInterval(() => {
        ticking = ticking.then(tick);
      }, options.checkMs ?? RECONCILE_CHECK_MS);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await ticking;
      await walking;
    },
    tally: () => tally,
    idle: async () => {
      await walking;
    },
  };
}

/** Starts a reconciliation, or throws a 409 naming the one running, with its Location. */
export async function startReconciliation(
  deps: { reconciler: Reconciler },
  request: ReconcileRequest,
): Promise<ReconciliationView> {
  const { started, run } = await deps.reconciler.start(request);
  if (!started) {
    throw new AppError(
      409,
      'reconciliation-running',
      `Reconciliation ${run.id} is running; one runs at a time: follow its progress at its Location.`,
      {
        headers: { Location: reconciliationPath(run.id) },
      },
    );
  }
  return viewOf(run);
}

export const reconciliationPath = (id: number): string => `/reconciliations/${id}`;

export async function getReconciliation(deps: SyncDeps, id: number): Promise<ReconciliationView> {
  const run = await deps.store.findReconciliation(id);
  if (!run) throw notFound(`There is no reconciliation ${id}.`);
  return viewOf(run);
}

export async function latestReconciliation(deps: SyncDeps): Promise<ReconciliationView> {
  const run = await deps.store.latestReconciliation();
  if (!run) throw notFound('No reconciliation has run yet.');
  return viewOf(run);
}

/** Up to `limit` reconciliations with an id above `after`, by id. */
export async function listReconciliations(deps: SyncDeps, after: number, limit: number): Promise<ReconciliationView[]> {
  return (await deps.store.listReconciliations(after, limit)).map(viewOf);
}
