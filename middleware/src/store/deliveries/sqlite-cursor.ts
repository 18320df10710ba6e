import type { Db } from '@welcome/common';
import { countsOf, RECENT_DELIVERIES, type Confirmation } from './delivery-store.js';

/**
 * The statements that move the cursor and record confirmations in a SQLite file, shared by the
 * deliveries and the dead letters, which move the cursor in their own commits.
 */
export function sqliteCursor(db: Db) {
  const cursorNow = db.prepare<[], number>('SELECT cursor FROM sync_state WHERE id = 1').pluck();
  // MAX(): the cursor never moves back, whatever order replays and cycles finish in.
  const advance = db.prepare<[number]>('UPDATE sync_state SET cursor = MAX(cursor, ?) WHERE id = 1');
  const forgetBehindCursor = db.prepare(
    'DELETE FROM confirmed WHERE customer_id <= (SELECT cursor FROM sync_state WHERE id = 1)',
  );
  const handledNow = db
    .prepare<[{ customerId: number }], number>(
      'SELECT EXISTS (SELECT 1 FROM confirmed WHERE customer_id = @customerId) ' +
        'OR EXISTS (SELECT 1 FROM dead_letters WHERE customer_id = @customerId)',
    )
    .pluck();
  const isHandled = (customerId: number) => handledNow.get({ customerId }) === 1;
  const confirm = db.prepare<[number, number, string]>(
    'INSERT OR REPLACE INTO confirmed (customer_id, package_id, outcome) VALUES (?, ?, ?)',
  );
  const addCounts = db.prepare<[number, number, number, number, number]>(`
    UPDATE sync_state SET synced = synced + ?, already_there = already_there + ?,
      via_webhook = via_webhook + ?, via_long_poll = via_long_poll + ?, via_poll = via_poll + ?
    WHERE id = 1
  `);
  const insertDelivery = db.prepare<[number, string, number, string, string]>(
    'INSERT INTO deliveries (customer_id, customer_name, package_id, outcome, at) VALUES (?, ?, ?, ?, ?)',
  );
  const pruneDeliveries = db.prepare<[number]>(
    'DELETE FROM deliveries WHERE id <= (SELECT MAX(id) FROM deliveries) - ?',
  );

  /**
   * Moves the cursor past `customerId`, then over the run of customers right after it that are
   * already handled (confirmed or dead-lettered ahead of it, by webhooks): everything up to the
   * cursor stays handled, whatever the order the outcomes came in.
   */
  const move = (customerId = 0) => {
    advance.run(customerId);
    const start = cursorNow.get()!;
    let cursor = start;
    while (isHandled(cursor + 1)) cursor += 1;
    if (cursor > start) advance.run(cursor);
    forgetBehindCursor.run();
  };

  /**
   * Counts confirmed packages, remembers them, keeps the latest among the recent ones, and moves the
   * cursor over them.
   */
  const recordConfirmed = (batch: readonly Confirmation[]) => {
    const counts = countsOf(batch);
    addCounts.run(counts.created, counts.alreadyThere, counts.webhook, counts.longPoll, counts.poll);
    for (const { delivery } of batch) confirm.run(delivery.customerId, delivery.packageId, delivery.outcome);
    for (const { delivery, at } of batch.slice(-RECENT_DELIVERIES)) {
      insertDelivery.run(delivery.customerId, delivery.customerName, delivery.packageId, delivery.outcome, at);
    }
    pruneDeliveries.run(RECENT_DELIVERIES);
    move();
  };

  return { now: () => cursorNow.get()!, move, isHandled, recordConfirmed };
}

export type SqliteCursor = ReturnType<typeof sqliteCursor>;
