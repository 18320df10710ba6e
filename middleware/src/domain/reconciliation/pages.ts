import type { CrmClient, CustomerRecord } from '../../clients/crm-client.js';
import type { InventoryClient } from '../../clients/inventory-client.js';
import { UpstreamUnavailableError } from '../../clients/upstream.js';

/** Customers (and packages) read a page at a time: the most either list gives. */
export const RECONCILE_PAGE_SIZE = 1000;

/** An async iterator whose next item can be looked at before it is taken. */
export function peekable<T>(source: AsyncIterable<T>) {
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
export const customersBetween = (crm: Pick<CrmClient, 'customersAfter'>, after: number, toId: number) =>
  inOrder(
    recordsOf(crm.customersAfter(after, RECONCILE_PAGE_SIZE)),
    (record) => record.id,
    after,
    toId,
    () => new UpstreamUnavailableError('CRM', 'it does not list its customers in id order'),
  );

/** The Inventory's packages of customers after `after` up to `toId`, one by one, in customer-id order. */
export const packagesBetween = (inventory: Pick<InventoryClient, 'packagesByCustomer'>, after: number, toId: number) =>
  inOrder(
    inventory.packagesByCustomer(after, RECONCILE_PAGE_SIZE),
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
export async function eachAtMost<T>(
  items: readonly T[],
  limit: number,
  act: (item: T) => Promise<void>,
): Promise<void> {
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
