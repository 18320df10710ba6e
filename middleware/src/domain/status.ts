import type { Logger } from '@welcome/common';
import type { FlowStore } from '../store/flow/flow-store.js';
import type { ReconciliationStore } from '../store/reconciliations/reconciliation-store.js';
import type { StatusStore } from '../store/status/status-store.js';
import type { Status, StoredStatus } from './model/status.js';
import { viewOf } from './reconciliation/views.js';
import { ownStorageFailure } from './sync.js';

/** What telling where delivery stands takes. */
export interface StatusReading {
  status: Pick<StatusStore, 'read'>;
  flow: Pick<FlowStore, 'read'>;
  reconciliations: Pick<ReconciliationStore, 'latest'>;
  now: () => Date;
}

/** Where delivery stands, the same on every replica, with the latest reconciliation (null before the first). */
export async function syncStatus(parts: StatusReading): Promise<Status> {
  const [status, latest, flow] = await Promise.all([
    parts.status.read(parts.now()),
    parts.reconciliations.latest(),
    parts.flow.read(),
  ]);
  return { ...status, lastReconciliation: latest ? viewOf(latest) : null, ...flow };
}

/** The one line a minute an idle middleware says: where it stands and that it is still polling. */
export async function logIdleSummary(parts: {
  status: Pick<StatusStore, 'read'>;
  logger: Logger;
  now: () => Date;
}): Promise<void> {
  let status: StoredStatus;
  try {
    status = await parts.status.read(parts.now());
  } catch (error) {
    if (ownStorageFailure(error) === undefined) throw error;
    return;
  }
  const ago =
    status.lastSuccessAt === null
      ? 'never'
      : `${Math.round((parts.now().getTime() - Date.parse(status.lastSuccessAt)) / 1000)} s ago`;
  parts.logger.info(`idle: cursor ${status.cursor}, lag ${status.lag}, last success ${ago}`, {
    cursor: status.cursor,
    lag: status.lag,
    lastSuccessAt: status.lastSuccessAt,
  });
}
