import { AppError, notFound } from '@welcome/common';
import type { ReconciliationStore } from '../../store/reconciliations/reconciliation-store.js';
import type { Reconciliation, ReconciliationView } from '../model/reconciliation.js';
import type { ReconcileRequest, Reconciler } from './reconciler.js';

/** The reconciliations kept, as the API reads them. */
export type ReconciliationViews = Pick<ReconciliationStore, 'find' | 'latest' | 'list'>;

/** A reconciliation as the API shows it: its position as progress through the range. */
export function viewOf(run: Reconciliation): ReconciliationView {
  const { position, openEnded, id, status, fromId, toId, repair, ...rest } = run;
  const total = Math.max(0, toId - fromId + 1);
  const progress = { checkedUpTo: position, checked: Math.min(total, Math.max(0, position - fromId + 1)), total };
  return { id, status, fromId, toId, repair, progress, ...rest };
}

/** Starts a reconciliation, or throws a 409 naming the one running, with its Location. */
export async function startReconciliation(
  reconciler: Pick<Reconciler, 'start'>,
  request: ReconcileRequest,
): Promise<ReconciliationView> {
  const { started, run } = await reconciler.start(request);
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

export async function getReconciliation(
  reconciliations: Pick<ReconciliationStore, 'find'>,
  id: number,
): Promise<ReconciliationView> {
  const run = await reconciliations.find(id);
  if (!run) throw notFound(`There is no reconciliation ${id}.`);
  return viewOf(run);
}

export async function latestReconciliation(
  reconciliations: Pick<ReconciliationStore, 'latest'>,
): Promise<ReconciliationView> {
  const run = await reconciliations.latest();
  if (!run) throw notFound('No reconciliation has run yet.');
  return viewOf(run);
}

/** Up to `limit` reconciliations with an id above `after`, by id. */
export async function listReconciliations(
  reconciliations: Pick<ReconciliationStore, 'list'>,
  after: number,
  limit: number,
): Promise<ReconciliationView[]> {
  return (await reconciliations.list(after, limit)).map(viewOf);
}
