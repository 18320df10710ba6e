import { z } from 'zod';

/** An ISO 8601 time, as every answer gives it. */
export const timestamp = z.string().meta({ format: 'date-time' });

/** A count that starts at 0 and only grows. */
export const count = z.int().min(0);

/** A CRM customer id, as the middleware takes it from the CRM. */
export const customerId = z.int().min(1);

/** A positive id the middleware or the Inventory gave. */
export const positiveId = z.int().min(1);
