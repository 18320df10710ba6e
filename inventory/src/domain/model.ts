import { z } from 'zod';

// The Inventory's vocabulary: what its API shows and what the domain asks its store to keep. Each
// answer's shape is a zod schema, its type inferred from it, and the OpenAPI document's components
// are made from the same schemas (http/openapi.ts). The store implements what the domain asks in
// these words, and imports them as types only.

/** An ISO 8601 time, as every answer gives it. */
const timestamp = z.string().meta({ format: 'date-time' });

/** A positive id: a package's, given by the Inventory, or a customer's, given by the CRM. */
const positiveId = z.int().min(1);

export const packageStatus = z.enum(['Pending']);
export type PackageStatus = z.infer<typeof packageStatus>;

/** A customer's welcome package: one per customer. */
export const welcomePackageSchema = z.object({
  id: positiveId,
  customerId: positiveId,
  customerName: z.string(),
  status: packageStatus,
  createdAt: timestamp,
});
export type WelcomePackage = z.infer<typeof welcomePackageSchema>;

/** A package to store: it is given its id as it is stored, and every package starts Pending. */
export type NewPackage = Omit<WelcomePackage, 'id' | 'status'>;
