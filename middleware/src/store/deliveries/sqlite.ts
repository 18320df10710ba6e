import { groupCommit, type Db, type StorageGuard } from '@welcome/common';
import type { Claim } from '../../domain/model/delivery.js';
import {
  toKnown,
  type ClaimPurpose,
  type Confirmation,
  type DeliveryStore,
  type KnowledgeRow,
} from './delivery-store.js';
import { sqliteCursor } from './sqlite-cursor.js';

/**
 * The least time between two commits of confirmations. Each commit holds the event loop while
 * SQLite writes it; under load the confirmations of this long share one, and a lone one after a
 * quiet spell is still committed at once.
 */
const CONFIRM_SPACING_MS = 10;

type Holder = { owner: string; until: number };

/**
 * The cursor and the confirmations in a SQLite file, which one process owns. Its claims are kept
 * in memory: there is no other replica to share them with, and a restart starts with none held.
 */
export function createSqliteDeliveryStore(db: Db, storage: StorageGuard): DeliveryStore {
  const cursor = sqliteCursor(db);
  // What is known of one customer, in one read: asked for each customer before it is delivered.
  const knowledgeOf = db.prepare<[{ customerId: number }], KnowledgeRow>(`
    SELECT s.cursor, c.package_id, c.outcome, d.id AS dead_letter_id
    FROM sync_state s
    LEFT JOIN confirmed c ON c.customer_id = @customerId
    LEFT JOIN dead_letters d ON d.customer_id = @customerId
    WHERE s.id = 1
  `);
  const confirmAll = db.transaction(cursor.recordConfirmed);
  const moveCursor = db.transaction(cursor.move);

  // Claims last as long as the process; the delivery claims the cursor has passed are dropped as it moves.
  const claims: Record<ClaimPurpose, Map<number, Holder>> = { delivery: new Map(), replay: new Map() };
  const forgetClaimsBehindCursor = () => {
    const now = cursor.now();
    for (const customerId of claims.delivery.keys()) if (customerId <= now) claims.delivery.delete(customerId);
  };
  const claim = (customerId: number, owner: string, at: Date, leaseMs: number, purpose: ClaimPurpose): Claim => {
    const known = purpose === 'replay' ? undefined : toKnown(customerId, knowledgeOf.get({ customerId })!);
    if (known) return known;
    const holder = claims[purpose].get(customerId);
    if (holder && holder.owner !== owner && holder.until > at.getTime()) {
      return { state: 'claimedElsewhere', owner: holder.owner, until: new Date(holder.until).toISOString() };
    }
    claims[purpose].set(customerId, { owner, until: at.getTime() + leaseMs });
    return { state: 'claimed' };
  };

  const confirmTogether = groupCommit<Confirmation>(
    (batch) => {
      storage.write('confirm', () => confirmAll.immediate(batch));
      forgetClaimsBehindCursor();
    },
    { spacingMs: CONFIRM_SPACING_MS },
  );

  return {
    cursor: async () => cursor.now(),
    confirm: (delivery, at, path) => confirmTogether({ delivery, at: at.toISOString(), path }),
    async advanceCursor(customerId) {
      storage.write('advanceCursor', () => moveCursor.immediate(customerId));
      forgetClaimsBehindCursor();
    },
    claim: async (customerId, owner, at, leaseMs, purpose = 'delivery') =>
      claim(customerId, owner, at, leaseMs, purpose),
    claimAll: async (customerIds, owner, at, leaseMs) =>
      customerIds.map((customerId) => claim(customerId, owner, at, leaseMs, 'delivery')),
    async release(customerId, owner, purpose = 'delivery') {
      if (claims[purpose].get(customerId)?.owner === owner) claims[purpose].delete(customerId);
    },
    async handledAmong(customerIds) {
      const now = cursor.now();
      return new Set(customerIds.filter((customerId) => customerId <= now || cursor.isHandled(customerId)));
    },
  };
}
