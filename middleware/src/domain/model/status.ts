import { z } from 'zod';
import { count, timestamp } from './common.js';
import { deliveriesByPathSchema, deliverySchema } from './delivery.js';
import { breakerSchema, pauseSchema, throttleSchema } from './flow.js';
import { reconciliationViewSchema } from './reconciliation.js';

/** Which upstream an outage is of. */
export const upstreamName = z.enum(['CRM', 'Inventory']);
export type UpstreamName = z.infer<typeof upstreamName>;

/** Set while cycles fail: which upstream, since when, and its latest error. */
export const outageSchema = z.object({ upstream: upstreamName, since: timestamp, lastError: z.string() });
export type Outage = z.infer<typeof outageSchema>;

/** A middleware process sharing the work, as its heartbeat last told. */
export const replicaSchema = z.object({
  id: z.string().meta({ description: 'The host and process id.' }),
  startedAt: timestamp,
  lastSeenAt: timestamp,
});
export type Replica = z.infer<typeof replicaSchema>;

/** Where delivery stands, as the store keeps it: the same on every replica. */
export const storedStatusSchema = z.object({
  cursor: count.meta({ description: 'The id of the last customer handled (delivered or dead-lettered).' }),
  lastPollAt: timestamp.nullable(),
  lastSuccessAt: timestamp.nullable(),
  created: count.meta({ description: 'Packages this middleware created.' }),
  synced: count.meta({ deprecated: true, description: 'The same as `created`, under its former name; going away.' }),
  alreadyThere: count.meta({ description: 'Customers whose package the Inventory already had.' }),
  failedCycles: count,
  lastError: z
    .string()
    .nullable()
    .meta({ description: 'The error of the last failed cycle; null after a successful one.' }),
  outage: outageSchema.nullable(),
  deadLetters: count,
  crmHighestId: count.meta({ description: 'The highest customer id the CRM has shown.' }),
  lag: count.meta({ description: 'crmHighestId minus cursor.' }),
  recentDeliveries: z.array(deliverySchema).meta({ description: 'The latest packages confirmed, newest first.' }),
  deliveriesByPath: deliveriesByPathSchema,
  lastWebhookAt: timestamp
    .nullable()
    .meta({ description: 'When the last signed CRM webhook arrived; null before the first.' }),
  replicas: z.array(replicaSchema).meta({
    description:
      'The middleware processes whose heartbeat (every 15 s) was seen in the last minute, ' +
      'by id: one on SQLite, each replica on PostgreSQL.',
  }),
});
export type StoredStatus = z.infer<typeof storedStatusSchema>;

/** Flow control toward the Inventory, as /status and GET /delivery show it. */
export const deliveryStateSchema = z.object({
  paused: pauseSchema.nullable().meta({ description: 'Set while delivery is paused; null otherwise.' }),
  throttle: throttleSchema
    .nullable()
    .meta({ description: "Set while the Inventory's Retry-After runs; null otherwise." }),
  breaker: breakerSchema,
});

/** GET /status: where delivery stands, with the latest reconciliation and the flow control toward the Inventory. */
export const statusSchema = storedStatusSchema.extend({
  lastReconciliation: reconciliationViewSchema
    .nullable()
    .meta({ description: 'The latest reconciliation; null before the first.' }),
  ...deliveryStateSchema.shape,
});
export type Status = z.infer<typeof statusSchema>;
