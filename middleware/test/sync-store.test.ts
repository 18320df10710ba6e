import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { createSilentLogger, createStorageGuard, openDatabase, type Db } from '@welcome/common';
import { createSyncStore } from '../src/store/sync-store.js';

const freshFile = () => join(mkdtempSync(join(tmpdir(), 'sync-store-')), 'middleware.db');
/** The store on `db`, with the guard it gets in production. */
const storeOn = (db: Db) => createSyncStore(db, createStorageGuard(db, createSilentLogger()));
const at = new Date('2026-01-02T03:04:05.000Z');

describe('the sync store', () => {
  test('starts at cursor 0 with nothing counted', () => {
    expect(storeOn(openDatabase(':memory:')).status()).toEqual({
      cursor: 0,
      lastPollAt: null,
      lastSuccessAt: null,
      synced: 0,
      alreadyThere: 0,
      failedCycles: 0,
      lastError: null,
      outage: null,
      deadLetters: 0,
      crmHighestId: 0,
      lag: 0,
      recentDeliveries: [],
      deliveriesByPath: { webhook: 0, longPoll: 0, poll: 0 },
      lastWebhookAt: null,
    });
  });

  test('webhooks noted together are written once: the latest time and the highest customer id', async () => {
    const store = storeOn(openDatabase(':memory:'));
    const later = new Date(at.getTime() + 1000);
    store.markWebhookReceived(at, 5);
    store.markWebhookReceived(at, 9);
    store.markWebhookReceived(later, 7);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.status()).toMatchObject({ lastWebhookAt: later.toISOString(), crmHighestId: 9 });
    store.markWebhookReceived(later, 3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.status().crmHighestId).toBe(9);
  });

  test('keeps the latest deliveries, newest first, and the lag behind the highest CRM id seen', async () => {
    const store = storeOn(openDatabase(':memory:'));
    for (let id = 1; id <= 25; id++) {
      await store.confirm({ customerId: id, customerName: `C${id}`, packageId: 100 + id, outcome: 'created' }, at, 'poll');
    }
    store.recordCrmHighest(30);
    store.recordCrmHighest(12);
    const status = store.status();
    expect(status.recentDeliveries).toHaveLength(20);
    expect(status.recentDeliveries[0]).toEqual({ customerId: 25, customerName: 'C25', packageId: 125, outcome: 'created', at: at.toISOString() });
    expect(status.recentDeliveries.at(-1)?.customerId).toBe(6);
    expect(status).toMatchObject({ crmHighestId: 30, lag: 5 });
  });

  test('commits to the write-ahead log without a sync each time, where the CRM and the Inventory sync every commit', () => {
    const db = openDatabase(freshFile());
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL, as every service opens it
    storeOn(db);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL: safe against a killed process in WAL mode
  });

  test('keeps the cursor and the counters in the file across a reopen', async () => {
    const path = freshFile();
    const db = openDatabase(path);
    const store = storeOn(db);
    await store.confirm({ customerId: 3, customerName: 'C3', packageId: 3, outcome: 'created' }, new Date(), 'poll');
    await store.confirm({ customerId: 4, customerName: 'C4', packageId: 4, outcome: 'alreadyThere' }, new Date(), 'poll');
    store.advanceCursor(4);
    store.markCycleFailed('Inventory', 'Inventory unavailable: answered 503', at);
    db.close();
    const reopened = storeOn(openDatabase(path));
    expect(reopened.status()).toMatchObject({
      cursor: 4,
      synced: 1,
      alreadyThere: 1,
      failedCycles: 1,
      lastError: 'Inventory unavailable: answered 503',
      outage: { upstream: 'Inventory', since: at.toISOString(), lastError: 'Inventory unavailable: answered 503' },
    });
  });

  test('never moves the cursor back', () => {
    const store = storeOn(openDatabase(':memory:'));
    store.advanceCursor(10);
    store.advanceCursor(7);
    expect(store.cursor()).toBe(10);
  });

  test('a dead letter moves the cursor, keeps the reason, and counts attempts', () => {
    const store = storeOn(openDatabase(':memory:'));
    const letter = { customerId: 5, customer: { id: 5, name: 'Eve' }, status: 409, reason: { detail: 'taken' } };
    const first = store.recordDeadLetter(letter, at);
    store.recordDeadLetter({ ...letter, reason: { detail: 'still taken' } }, new Date('2026-01-03T00:00:00.000Z'));
    expect(store.cursor()).toBe(5);
    expect(store.findDeadLetter(first.id)).toEqual({
      id: first.id,
      customerId: 5,
      customer: { id: 5, name: 'Eve' },
      status: 409,
      reason: { detail: 'still taken' },
      attempts: 2,
      firstFailedAt: at.toISOString(),
      lastFailedAt: '2026-01-03T00:00:00.000Z',
    });
    expect(store.status().deadLetters).toBe(1);
  });

  test('a resolved dead letter leaves the list and counts as delivered', () => {
    const store = storeOn(openDatabase(':memory:'));
    const letter = store.recordDeadLetter({ customerId: 5, customer: {}, status: 400, reason: 'bad' }, at);
    store.resolveDeadLetter(letter.id, { customerId: 5, customerName: 'C5', packageId: 8, outcome: 'created' }, at);
    expect(store.findDeadLetter(letter.id)).toBeUndefined();
    expect(store.status()).toMatchObject({ deadLetters: 0, synced: 1, cursor: 5 });
  });

  test('lists dead letters by their own id, after a cursor', () => {
    const store = storeOn(openDatabase(':memory:'));
    for (const id of [9, 2, 5]) store.recordDeadLetter({ customerId: id, customer: {}, status: 400, reason: 'bad' }, at);
    expect(store.listDeadLetters(0, 10).map((l) => [l.id, l.customerId])).toEqual([[1, 9], [2, 2], [3, 5]]);
    expect(store.listDeadLetters(1, 1).map((l) => l.customerId)).toEqual([2]);
  });

  test('a record without a customer id is kept once, by its content, and does not move the cursor', () => {
    const store = storeOn(openDatabase(':memory:'));
    store.advanceCursor(3);
    const garbage = { customerId: null, customer: { id: 'x', name: 'Eve' }, status: null, reason: 'no id' };
    const first = store.recordDeadLetter(garbage, at);
    const again = store.recordDeadLetter(garbage, at);
    const other = store.recordDeadLetter({ ...garbage, customer: { id: 'y' } }, at);
    expect(again).toMatchObject({ id: first.id, customerId: null, attempts: 2 });
    expect(other.id).not.toBe(first.id);
    expect(store.cursor()).toBe(3);
  });

  test('an outage starts with the first failed cycle and ends with the next success, which says when it began', () => {
    const store = storeOn(openDatabase(':memory:'));
    expect(store.markCycleFailed('CRM', 'CRM unavailable: ECONNREFUSED', at)).toBe(true);
    expect(store.markCycleFailed('Inventory', 'Inventory unavailable: answered 503', new Date('2026-01-02T03:05:00.000Z'))).toBe(false);
    expect(store.status().outage).toEqual({ upstream: 'Inventory', since: at.toISOString(), lastError: 'Inventory unavailable: answered 503' });
    expect(store.markCycleSucceeded(new Date('2026-01-02T03:06:00.000Z'))).toEqual({
      upstream: 'Inventory',
      since: at.toISOString(),
      lastError: 'Inventory unavailable: answered 503',
    });
    expect(store.status()).toMatchObject({ outage: null, lastError: null, failedCycles: 2 });
    expect(store.markCycleSucceeded(at)).toBeUndefined();
  });
});
