import { conflict, notFound } from '@welcome/common';
import type { PackageStore } from '../store/packages/package-store.js';
import type { WelcomePackage } from './model.js';

export interface PackageDeps {
  store: PackageStore;
  now: () => Date;
  /** Told of each request answered with a package: created, or already there (for metrics). */
  onAnswered?: (created: boolean) => void;
}

/**
 * One welcome package per customer. Asking again with the same name is a safe retry and returns
 * the package already made; asking with another name is a conflict, never a second package.
 */
export async function requestWelcomePackage(
  deps: PackageDeps,
  request: { customerId: number; customerName: string },
): Promise<{ created: boolean; pkg: WelcomePackage }> {
  const result = await deps.store.findOrInsert({ ...request, createdAt: deps.now().toISOString() });
  if (!result.created && result.pkg.customerName !== request.customerName) {
    throw conflict(
      'customer-has-package',
      `Customer ${request.customerId} already has welcome package ${result.pkg.id} under the name ` +
        `${JSON.stringify(result.pkg.customerName)}, not ${JSON.stringify(request.customerName)}.`,
    );
  }
  deps.onAnswered?.(result.created);
  return result;
}

export async function getPackage(deps: PackageDeps, id: number): Promise<WelcomePackage> {
  const pkg = await deps.store.findById(id);
  if (!pkg) throw notFound(`There is no package ${id}.`);
  return pkg;
}

/** The orders a client can walk the packages in; each names the field its keyset pages go by. */
export const PACKAGE_ORDERS = ['id', 'customerId'] as const;
export type PackageOrder = (typeof PACKAGE_ORDERS)[number];

/** Up to `limit` packages whose `orderBy` field is above `after`, in that order; of one customer if given. */
export function listPackages(
  deps: PackageDeps,
  orderBy: PackageOrder,
  after: number,
  limit: number,
  customerId?: number,
): Promise<WelcomePackage[]> {
  return orderBy === 'customerId'
    ? deps.store.listAfterCustomerId(after, limit, customerId)
    : deps.store.listAfter(after, limit, customerId);
}
