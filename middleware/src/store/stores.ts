import type { ServiceDatabase } from '@welcome/common';
import { createPostgresDeadLetterStore } from './dead-letters/postgres.js';
import { createSqliteDeadLetterStore } from './dead-letters/sqlite.js';
import type { DeadLetterStore } from './dead-letters/dead-letter-store.js';
import { createPostgresDeliveryStore } from './deliveries/postgres.js';
import { createSqliteDeliveryStore } from './deliveries/sqlite.js';
import type { DeliveryStore } from './deliveries/delivery-store.js';
import { createPostgresFlowStore } from './flow/postgres.js';
import { createSqliteFlowStore } from './flow/sqlite.js';
import type { FlowStore } from './flow/flow-store.js';
import { createPostgresJourneyStore } from './journeys/postgres.js';
import { createSqliteJourneyStore } from './journeys/sqlite.js';
import type { JourneyStore } from './journeys/journey-store.js';
import { createPostgresReconciliationStore } from './reconciliations/postgres.js';
import { createSqliteReconciliationStore } from './reconciliations/sqlite.js';
import type { ReconciliationStore } from './reconciliations/reconciliation-store.js';
import { createPostgresStatusStore } from './status/postgres.js';
import { createSqliteStatusStore } from './status/sqlite.js';
import type { StatusStore } from './status/status-store.js';

/**
 * The middleware's state, one store per concern: on SQLite for one process, on PostgreSQL for any
 * number of replicas, which then share the cursor, the confirmations, the claims, the dead letters,
 * the reconciliations, the journeys, the counters and the flow control toward the Inventory.
 */
export interface MiddlewareStores {
  deliveries: DeliveryStore;
  deadLetters: DeadLetterStore;
  reconciliations: ReconciliationStore;
  journeys: JourneyStore;
  status: StatusStore;
  flow: FlowStore;
}

/** The stores on the service's database, whichever backend it is: picked once, here. */
export function createMiddlewareStores(database: ServiceDatabase): MiddlewareStores {
  if (database.kind === 'postgres') {
    const { pg } = database;
    return {
      deliveries: createPostgresDeliveryStore(pg),
      deadLetters: createPostgresDeadLetterStore(pg),
      reconciliations: createPostgresReconciliationStore(pg),
      journeys: createPostgresJourneyStore(pg),
      status: createPostgresStatusStore(pg),
      flow: createPostgresFlowStore(pg),
    };
  }
  const { db, storage } = database;
  return {
    deliveries: createSqliteDeliveryStore(db, storage),
    deadLetters: createSqliteDeadLetterStore(db, storage),
    reconciliations: createSqliteReconciliationStore(db, storage),
    journeys: createSqliteJourneyStore(db, storage),
    status: createSqliteStatusStore(db, storage),
    flow: createSqliteFlowStore(db, storage),
  };
}

export type { DeadLetterStore, DeliveryStore, FlowStore, JourneyStore, ReconciliationStore, StatusStore };
