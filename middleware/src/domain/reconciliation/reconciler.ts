import { AppError, isDatabaseUnavailable, StorageFullError } from '@welcome/common';
import { UpstreamUnavailableError } from '../../clients/upstream.js';
import type { DeliveryStore } from '../../store/deliveries/delivery-store.js';
import { DeliveryHeldError } from '../flow/held.js';
import type { ReconciliationStore } from '../../store/reconciliations/reconciliation-store.js';
import type { Finding, FindingCounts, Reconciliation } from '../model/reconciliation.js';
import { walkReconciliation, type Walking } from './walk.js';

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

export interface Reconciler {
  /**
   * Starts a reconciliation unless one is running (on any replica): `started` tells which, `run`
   * is the new one or the running one. Throws a 400 AppError for a range that starts beyond the cursor.
   */
  start(request: ReconcileRequest): Promise<{ started: boolean; run: Reconciliation }>;
  /** Looks now and every RECONCILE_CHECK_MS for a walk to take over and, with an interval, for one that is due. */
  startTimers(): void;
  /**
   * Stops looking, and leaves a walk in progress here to be taken up again after the restart
   * (or by another replica).
   */
  stop(): Promise<void>;
  /** Findings by kind and repairs made by this process's walks, for its metrics. */
  tally(): Readonly<FindingCounts>;
  /** Resolves once no walk is in progress here. */
  idle(): Promise<void>;
}

/** What a reconciler takes: what its walks take, the cursor, and the reconciliations kept. */
export interface Reconciling extends Omit<Walking, 'leaseMs' | 'reconciliations'> {
  deliveries: Pick<DeliveryStore, 'cursor'>;
  reconciliations: Pick<ReconciliationStore, 'start' | 'save' | 'finish' | 'leave' | 'adopt' | 'latest'>;
}

export interface ReconcilerOptions {
  /** RECONCILE_INTERVAL in ms: how often a reconciliation starts on its own; never when undefined. */
  intervalMs?: number | undefined;
  checkMs?: number;
  leaseMs?: number;
}

/** The database or the disk failed: the walk cannot even be marked, and its lease lets it be taken up again. */
const storageFailure = (error: unknown) => isDatabaseUnavailable(error) || error instanceof StorageFullError;

const summary = (counts: FindingCounts) =>
  `${counts.missing} missing (${counts.repaired} repaired), ` +
  `${counts.mismatched} mismatched, ${counts.orphaned} orphaned`;

/** Walks one run to its end and records how it ended, whatever stopped it. */
async function runWalk(
  parts: Reconciling & { leaseMs: number },
  run: Reconciliation,
  signal: AbortSignal,
  tally: FindingCounts,
) {
  const { logger, owner, reconciliations } = parts;
  const fields = { reconciliationId: run.id, fromId: run.fromId, toId: run.toId, repair: run.repair };
  const saved = { progress: { position: run.position, counts: run.counts, findings: [] as Finding[] } };
  try {
    const ended = await walkReconciliation(parts, run, signal, saved, tally);
    if (ended === 'stopped') {
      await reconciliations.leave(run.id, owner);
      const where = saved.progress.position;
      logger.info(`Reconciliation ${run.id} stopped at id ${where}; it goes on after the restart`, fields);
      return;
    }
    if (ended === 'lost') {
      logger.warn(`Reconciliation ${run.id} was taken over by another replica; this one stops walking it`, fields);
      return;
    }
    await reconciliations.finish(run.id, owner, saved.progress, { status: 'done' }, parts.now());
    const { counts } = saved.progress;
    const found = counts.missing + counts.mismatched + counts.orphaned;
    const message = `Reconciliation ${run.id} done, customers ${run.fromId} to ${run.toId}: ${summary(counts)}`;
    logger.log(found > 0 ? 'warn' : 'info', message, { ...fields, ...counts });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (storageFailure(error)) {
      logger.warn(
        `Reconciliation ${run.id} could not be saved (${message}); it is taken up again once its lease ends`,
        fields,
      );
      return;
    }
    const expected = error instanceof UpstreamUnavailableError || error instanceof DeliveryHeldError;
    const what = expected ? message : `an unexpected error: ${message}`;
    await reconciliations
      .finish(run.id, owner, saved.progress, { status: 'failed', error: what }, parts.now())
      .catch(() => undefined);
    logger.error(`Reconciliation ${run.id} failed after id ${saved.progress.position}: ${what}`, {
      ...fields,
      error: what,
    });
  }
}

/** The range a request asks for, up to the cursor; a 400 AppError for one that starts beyond it. */
function rangeOf(request: ReconcileRequest, cursor: number) {
  const fromId = request.fromId ?? 1;
  if (request.fromId !== undefined && fromId > cursor) {
    throw new AppError(
      400,
      'beyond-cursor',
      `Customers after the cursor (${cursor}) are not handled yet: there is nothing to reconcile from ${fromId}.`,
      { errors: [{ field: 'fromId', message: `must be at most the cursor, ${cursor}` }] },
    );
  }
  return {
    fromId,
    toId: Math.min(request.toId ?? cursor, cursor),
    repair: request.repair ?? true,
    openEnded: request.toId === undefined,
  };
}

export function createReconciler(parts: Reconciling, options: ReconcilerOptions = {}): Reconciler {
  const walking = { ...parts, leaseMs: options.leaseMs ?? RECONCILE_LEASE_MS };
  const { logger, owner, reconciliations, leaseMs } = walking;
  const startedAt = parts.now().getTime();
  const tally: FindingCounts = { missing: 0, mismatched: 0, orphaned: 0, repaired: 0 };
  let walk: Promise<void> | undefined;
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> = Promise.resolve();

  const launch = (run: Reconciliation) => {
    walk = runWalk(walking, run, stopping.signal, tally).finally(() => {
      walk = undefined;
    });
  };

  const start = async (request: ReconcileRequest) => {
    const range = rangeOf(request, await parts.deliveries.cursor());
    const begun = await reconciliations.start(range, owner, parts.now(), leaseMs);
    if (begun.started) {
      logger.info(
        `Reconciliation ${begun.run.id} started: customers ${range.fromId} to ${range.toId}, ` +
          `repair ${range.repair ? 'on' : 'off'}`,
        { reconciliationId: begun.run.id, ...range },
      );
      launch(begun.run);
    }
    return begun;
  };

  const tick = async () => {
    try {
      if (walk === undefined) {
        const adopted = await reconciliations.adopt(owner, parts.now(), leaseMs);
        if (adopted) {
          logger.info(`Reconciliation ${adopted.id} goes on after id ${adopted.position}`, {
            reconciliationId: adopted.id,
            position: adopted.position,
          });
          launch(adopted);
          return;
        }
      }
      if (options.intervalMs === undefined || walk !== undefined) return;
      const latest = await reconciliations.latest();
      const since = latest ? Date.parse(latest.startedAt) : startedAt;
      if (parts.now().getTime() - since >= options.intervalMs) await start({});
    } catch (error) {
      logger.debug('The reconciliation check could not be made; the next one tries again', {
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
      await walk;
    },
    tally: () => tally,
    idle: async () => {
      await walk;
    },
  };
}
