import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { createSilentLogger, createStorageGuard, openDatabase, setUpSqlite, type Db } from '@welcome/common';
import { middlewareSchema } from '../src/store/schema.js';
import { createSqliteSyncStore } from '../src/store/sqlite-sync-store.js';
import { createSyncStore, REPLICA_SEEN_WITHIN_MS, type SyncStore } from '../src/store/sync-store.js';
import { BACKENDS, testDatabases, type Backend } from '../../test/support/databases.js';
import { waitFor } from '../../test/support/servers.js';
import { crmSchema } from '../../crm/src/store/schema.js';

const databases = testDatabases('middleware', middlewareSchema);
const crmDatabases = testDatabases('crm', crmSchema);
const freshFile = () => join(mkdtempSync(join(tmpdir(), 'sync-store-')), 'middleware.db');
const at = new Date('2026-01-02T03:04:05.000Z');
const later = (ms: number) => new Date(at.getTime() + ms);
const delivery = (customerId: number, outcome: 'created' | 'alreadyThere' = 'created') => ({
  customerId,
  customerName: `C${customerId}`,
  packageId: 100 + customerId,
  outcome,
});

/** A store on a fresh database of `backend`, or on the one at `place` again (a reopen, a second replica). */
async function storeOn(backend: Backend, place: { path?: string; schema?: string } = {}): Promise<SyncStore> {
  return createSyncStore(await databases.open(backend, place));
}

/** Where a second store finds the first one's data: the same file, or the same schema. */
const sharedPlace = (backend: Backend) =>
  backend === 'sqlite' ? { path: freshFile() } : { schema: databases.newSchema() };

describe.each(BACKENDS)('the sync store on %s', (backend) => {
  test('starts at cursor 0 with nothing counted', async () => {
    expect(await (await storeOn(backend)).status(at)).toEqual({
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
      replicas: [],
    });
  });

  test('webhooks noted together are written once: the latest time and the highest customer id', async () => {
    const store = await storeOn(backend);
    store.markWebhookReceived(at, 5);
    store.markWebhookReceived(at, 9);
    store.markWebhookReceived(later(1000), 7);
    await waitFor(
      'the webhooks to be noted',
      async () => (await store.status()).lastWebhookAt === later(1000).toISOString(),
    );
    expect(await store.status()).toMatchObject({ lastWebhookAt: later(1000).toISOString(), crmHighestId: 9 });
    store.markWebhookReceived(later(2000), 3);
    await waitFor(
      'the webhook to be noted',
      async () => (await store.status()).lastWebhookAt === later(2000).toISOString(),
    );
    expect((await store.status()).crmHighestId).toBe(9);
  });

  test('keeps the latest deliveries, newest first, and the lag behind the highest CRM id seen', async () => {
    const store = await storeOn(backend);
    for (let id = 1; id <= 25; id++) await store.confirm(delivery(id), at, 'poll');
    await store.recordCrmHighest(30);
    await store.recordCrmHighest(12);
    const status = await store.status();
    expect(status.recentDeliveries).toHaveLength(20);
    expect(status.recentDeliveries[0]).toEqual({
      customerId: 25,
      customerName: 'C25',
      packageId: 125,
      outcome: 'created',
      at: at.toISOString(),
    });
    expect(status.recentDeliveries.at(-1)?.customerId).toBe(6);
    expect(status).toMatchObject({ crmHighestId: 30, lag: 5 });
  });

  test(
    'confirmations asked for together are counted by outcome and by path, ' +
      'and move the cursor over the run right after it',
    async () => {
      const store = await storeOn(backend);
      await Promise.all([
        store.confirm(delivery(1), at, 'poll'),
        store.confirm(delivery(2, 'alreadyThere'), at, 'webhook'),
        store.confirm(delivery(4), at, 'longPoll'),
      ]);
      expect(await store.status()).toMatchObject({
        cursor: 2,
        synced: 2,
        alreadyThere: 1,
        deliveriesByPath: { webhook: 1, longPoll: 1, poll: 1 },
      });
      // 3 closes the gap: the cursor runs over 3 and the 4 confirmed before it.
      await store.confirm(delivery(3), at, 'poll');
      expect(await store.cursor()).toBe(4);
    },
  );

  test('keeps the cursor and the counters across a reopen', async () => {
    const place = sharedPlace(backend);
    const store = await storeOn(backend, place);
    await store.confirm(delivery(3), new Date(), 'poll');
    await store.confirm(delivery(4, 'alreadyThere'), new Date(), 'poll');
    await store.advanceCursor(4);
    await store.markCycleFailed('Inventory', 'Inventory unavailable: answered 503', at);
    const reopened = await storeOn(backend, place);
    expect(await reopened.status()).toMatchObject({
      cursor: 4,
      synced: 1,
      alreadyThere: 1,
      failedCycles: 1,
      lastError: 'Inventory unavailable: answered 503',
      outage: { upstream: 'Inventory', since: at.toISOString(), lastError: 'Inventory unavailable: answered 503' },
    });
  });

  test('never moves the cursor back', async () => {
    const store = await storeOn(backend);
    await store.advanceCursor(10);
    await store.advanceCursor(7);
    expect(await store.cursor()).toBe(10);
  });

  test('moving the cursor past a customer carries it on over those handled right after', async () => {
    const store = await storeOn(backend);
    await store.confirm(delivery(3), at, 'webhook');
    await store.recordDeadLetter({ customerId: 4, customer: {}, status: 422, reason: 'no' }, at, { moveCursor: false });
    expect(await store.cursor()).toBe(0);
    await store.advanceCursor(2);
    expect(await store.cursor()).toBe(4);
  });

  test('a dead letter moves the cursor, keeps the reason, and counts attempts', async () => {
    const store = await storeOn(backend);
    const letter = { customerId: 5, customer: { id: 5, name: 'Eve' }, status: 409, reason: { detail: 'taken' } };
    const first = await store.recordDeadLetter(letter, at);
    await store.recordDeadLetter(
      { ...letter, reason: { detail: 'still taken' } },
      new Date('2026-01-03T00:00:00.000Z'),
    );
    expect(await store.cursor()).toBe(5);
    expect(await store.findDeadLetter(first.id)).toEqual({
      id: first.id,
      customerId: 5,
      customer: { id: 5, name: 'Eve' },
      status: 409,
      reason: { detail: 'still taken' },
      attempts: 2,
      firstFailedAt: at.toISOString(),
      lastFailedAt: '2026-01-03T00:00:00.000Z',
    });
    expect((await store.status()).deadLetters).toBe(1);
  });

  test('a dead letter kept without moving the cursor waits for the customers before it', async () => {
    const store = await storeOn(backend);
    await store.recordDeadLetter({ customerId: 2, customer: {}, status: 422, reason: 'no' }, at, { moveCursor: false });
    expect(await store.cursor()).toBe(0);
    await store.confirm(delivery(1), at, 'poll');
    expect(await store.cursor()).toBe(2);
  });

  test('a resolved dead letter leaves the list and counts as delivered', async () => {
    const store = await storeOn(backend);
    const letter = await store.recordDeadLetter({ customerId: 5, customer: {}, status: 400, reason: 'bad' }, at);
    await store.resolveDeadLetter(
      letter.id,
      { customerId: 5, customerName: 'C5', packageId: 8, outcome: 'created' },
      at,
    );
    expect(await store.findDeadLetter(letter.id)).toBeUndefined();
    expect(await store.status()).toMatchObject({ deadLetters: 0, synced: 1, cursor: 5 });
    expect((await store.status()).recentDeliveries).toEqual([
      { customerId: 5, customerName: 'C5', packageId: 8, outcome: 'created', at: at.toISOString() },
    ]);
  });

  test(
    'a dead letter ahead of the cursor, resolved, counts as confirmed: ' +
      'the cursor passes it with the customers before it',
    async () => {
      const store = await storeOn(backend);
      const letter = await store.recordDeadLetter({ customerId: 2, customer: {}, status: 422, reason: 'no' }, at, {
        moveCursor: false,
      });
      await store.resolveDeadLetter(letter.id, delivery(2), at);
      expect(await store.claim(2, 'a', at, 1000)).toEqual({ state: 'confirmed', packageId: 102, outcome: 'created' });
      await store.confirm(delivery(1), at, 'poll');
      expect(await store.cursor()).toBe(2);
    },
  );

  test('lists dead letters by their own id, after a cursor', async () => {
    const store = await storeOn(backend);
    for (const id of [9, 2, 5])
      await store.recordDeadLetter({ customerId: id, customer: {}, status: 400, reason: 'bad' }, at);
    expect((await store.listDeadLetters(0, 10)).map((l) => [l.id, l.customerId])).toEqual([
      [1, 9],
      [2, 2],
      [3, 5],
    ]);
    expect((await store.listDeadLetters(1, 1)).map((l) => l.customerId)).toEqual([2]);
  });

  test('a record without a customer id is kept once, by its content, and does not move the cursor', async () => {
    const store = await storeOn(backend);
    await store.advanceCursor(3);
    const garbage = { customerId: null, customer: { id: 'x', name: 'Eve' }, status: null, reason: 'no id' };
    const first = await store.recordDeadLetter(garbage, at);
    const again = await store.recordDeadLetter(garbage, at);
    const other = await store.recordDeadLetter({ ...garbage, customer: { id: 'y' } }, at);
    expect(again).toMatchObject({ id: first.id, customerId: null, attempts: 2 });
    expect(other.id).not.toBe(first.id);
    expect(await store.cursor()).toBe(3);
  });

  test(
    'an outage starts with the first failed cycle and ends with the next success, ' + 'which says when it began',
    async () => {
      const store = await storeOn(backend);
      expect(await store.markCycleFailed('CRM', 'CRM unavailable: ECONNREFUSED', at)).toBe(true);
      expect(
        await store.markCycleFailed(
          'Inventory',
          'Inventory unavailable: answered 503',
          new Date('2026-01-02T03:05:00.000Z'),
        ),
      ).toBe(false);
      expect((await store.status()).outage).toEqual({
        upstream: 'Inventory',
        since: at.toISOString(),
        lastError: 'Inventory unavailable: answered 503',
      });
      expect(await store.markCycleSucceeded(new Date('2026-01-02T03:06:00.000Z'))).toEqual({
        upstream: 'Inventory',
        since: at.toISOString(),
        lastError: 'Inventory unavailable: answered 503',
      });
      expect(await store.status()).toMatchObject({
        outage: null,
        lastError: null,
        failedCycles: 2,
        lastSuccessAt: '2026-01-02T03:06:00.000Z',
      });
      expect(await store.markCycleSucceeded(at)).toBeUndefined();
    },
  );

  describe('claims', () => {
    const lease = 10_000;

    test(
      'a customer claimed by one owner is held from another until the lease ends, ' + 'then the other takes it',
      async () => {
        const store = await storeOn(backend);
        expect(await store.claim(7, 'a', at, lease)).toEqual({ state: 'claimed' });
        expect(await store.claim(7, 'b', later(1000), lease)).toEqual({
          state: 'claimedElsewhere',
          owner: 'a',
          until: later(lease).toISOString(),
        });
        expect(await store.claim(7, 'a', later(2000), lease)).toEqual({ state: 'claimed' });
        expect(await store.claim(7, 'b', later(2000 + lease), lease)).toEqual({ state: 'claimed' });
        expect(await store.claim(7, 'a', later(2001 + lease), lease)).toMatchObject({
          state: 'claimedElsewhere',
          owner: 'b',
        });
      },
    );

    test('a released claim may be taken at once', async () => {
      const store = await storeOn(backend);
      await store.claim(7, 'a', at, lease);
      await store.release(7, 'b');
      expect(await store.claim(7, 'b', at, lease)).toMatchObject({ state: 'claimedElsewhere' });
      await store.release(7, 'a');
      expect(await store.claim(7, 'b', at, lease)).toEqual({ state: 'claimed' });
    });

    test(
      'a customer handled already is not claimed but told: ' + 'confirmed, dead-lettered, or behind the cursor',
      async () => {
        const store = await storeOn(backend);
        await store.claim(3, 'a', at, lease);
        await store.confirm(delivery(3, 'alreadyThere'), at, 'poll');
        const letter = await store.recordDeadLetter({ customerId: 4, customer: {}, status: 422, reason: 'no' }, at, {
          moveCursor: false,
        });
        // Long after the lease: the confirmation, not the lapsed claim, decides.
        expect(await store.claim(3, 'b', later(10 * lease), lease)).toEqual({
          state: 'confirmed',
          packageId: 103,
          outcome: 'alreadyThere',
        });
        expect(await store.claim(4, 'b', at, lease)).toEqual({ state: 'deadLettered', deadLetterId: letter.id });
        await store.advanceCursor(9);
        expect(await store.claim(3, 'b', at, lease)).toEqual({ state: 'behindCursor' });
        expect(await store.claim(8, 'b', at, lease)).toEqual({ state: 'behindCursor' });
      },
    );

    test(
      'a replay claims a dead-lettered customer whatever delivery claim is left, ' +
        'and replays of one customer take turns',
      async () => {
        const store = await storeOn(backend);
        await store.claim(4, 'a', at, lease);
        await store.recordDeadLetter({ customerId: 4, customer: {}, status: 422, reason: 'no' }, at);
        expect(await store.claim(4, 'b', at, lease, { replay: true })).toEqual({ state: 'claimed' });
        expect(await store.claim(4, 'c', at, lease, { replay: true })).toMatchObject({
          state: 'claimedElsewhere',
          owner: 'b',
        });
        await store.release(4, 'b');
        expect(await store.claim(4, 'c', at, lease, { replay: true })).toMatchObject({
          state: 'claimedElsewhere',
          owner: 'b',
        });
        await store.release(4, 'b', { replay: true });
        expect(await store.claim(4, 'c', at, lease, { replay: true })).toEqual({ state: 'claimed' });
      },
    );

    test('tells which of a set of customers are handled by now', async () => {
      const store = await storeOn(backend);
      await store.advanceCursor(2);
      await store.confirm(delivery(5), at, 'webhook');
      await store.recordDeadLetter({ customerId: 7, customer: {}, status: 422, reason: 'no' }, at, {
        moveCursor: false,
      });
      await store.claim(6, 'a', at, lease);
      expect([...(await store.handledAmong([1, 2, 3, 5, 6, 7, 8]))].sort((a, b) => a - b)).toEqual([1, 2, 5, 7]);
      expect(await store.handledAmong([])).toEqual(new Set());
    });
  });

  describe('reconciliations', () => {
    const lease = 60_000;
    const range = { fromId: 1, toId: 500, repair: true, openEnded: false };
    const noCounts = { missing: 0, mismatched: 0, orphaned: 0, repaired: 0 };
    const missing = (customerId: number) => ({ kind: 'missing' as const, customerId, customerName: `C${customerId}` });

    test('one runs at a time: a second start is told the running one, and once it ends another starts', async () => {
      const store = await storeOn(backend);
      const first = await store.startReconciliation(range, 'a', at, lease);
      expect(first).toMatchObject({
        started: true,
        run: { status: 'running', fromId: 1, toId: 500, repair: true, position: 0, counts: noCounts, findings: [] },
      });
      expect(first.run).toMatchObject({
        startedAt: at.toISOString(),
        updatedAt: at.toISOString(),
        finishedAt: null,
        error: null,
      });
      const second = await store.startReconciliation({ ...range, repair: false }, 'b', later(1000), lease);
      expect(second).toEqual({ started: false, run: first.run });
      await store.finishReconciliation(
        first.run.id,
        'a',
        { position: 500, counts: noCounts, findings: [] },
        { status: 'done' },
        later(2000),
      );
      const third = await store.startReconciliation({ ...range, repair: false }, 'b', later(3000), lease);
      expect(third).toMatchObject({ started: true, run: { repair: false } });
      expect(third.run.id).toBeGreaterThan(first.run.id);
      expect(await store.latestReconciliation()).toEqual(third.run);
      expect(await store.findReconciliation(first.run.id)).toMatchObject({
        status: 'done',
        position: 500,
        finishedAt: later(2000).toISOString(),
      });
      expect((await store.listReconciliations(0, 10)).map((run) => run.id)).toEqual([first.run.id, third.run.id]);
      expect((await store.listReconciliations(first.run.id, 10)).map((run) => run.id)).toEqual([third.run.id]);
    });

    test('saves progress and counts, and keeps the first 100 findings only', async () => {
      const store = await storeOn(backend);
      const { run } = await store.startReconciliation(range, 'a', at, lease);
      const first = Array.from({ length: 60 }, (_, n) => missing(n + 1));
      const counts = { ...noCounts, missing: 60, repaired: 60 };
      expect(
        await store.saveReconciliation(run.id, 'a', { position: 60, counts, findings: first }, later(1000), lease),
      ).toBe(true);
      const next = Array.from({ length: 60 }, (_, n) => missing(n + 61));
      const more = { ...counts, missing: 120, orphaned: 1 };
      expect(
        await store.saveReconciliation(
          run.id,
          'a',
          { position: 130, counts: more, findings: next },
          later(2000),
          lease,
        ),
      ).toBe(true);
      const saved = (await store.findReconciliation(run.id))!;
      expect(saved).toMatchObject({
        status: 'running',
        position: 130,
        counts: more,
        updatedAt: later(2000).toISOString(),
      });
      expect(saved.findings.map((finding) => finding.customerId)).toEqual(Array.from({ length: 100 }, (_, n) => n + 1));
      await store.finishReconciliation(
        run.id,
        'a',
        { position: 131, counts: more, findings: [missing(131)] },
        { status: 'failed', error: 'CRM unavailable: x' },
        later(3000),
      );
      expect(await store.findReconciliation(run.id)).toMatchObject({
        status: 'failed',
        error: 'CRM unavailable: x',
        position: 131,
        finishedAt: later(3000).toISOString(),
      });
      expect((await store.findReconciliation(run.id))!.findings).toHaveLength(100);
    });

    test(
      'a run whose lease ran out is taken over by another owner, ' + 'and its old owner can no longer save or end it',
      async () => {
        const store = await storeOn(backend);
        const { run } = await store.startReconciliation(range, 'a', at, lease);
        await store.saveReconciliation(
          run.id,
          'a',
          { position: 40, counts: noCounts, findings: [] },
          later(1000),
          lease,
        );
        expect(await store.adoptReconciliation('b', later(lease), lease)).toBeUndefined();
        const adopted = await store.adoptReconciliation('b', later(1000 + lease), lease);
        expect(adopted).toMatchObject({ id: run.id, status: 'running', position: 40 });
        expect(await store.adoptReconciliation('c', later(2000 + lease), lease)).toBeUndefined();
        expect(
          await store.saveReconciliation(
            run.id,
            'a',
            { position: 99, counts: noCounts, findings: [] },
            later(2000 + lease),
            lease,
          ),
        ).toBe(false);
        await store.finishReconciliation(
          run.id,
          'a',
          { position: 99, counts: noCounts, findings: [] },
          { status: 'done' },
          later(2000 + lease),
        );
        expect(await store.findReconciliation(run.id)).toMatchObject({ status: 'running', position: 40 });
        // A run left by its owner (a stop) is free at once.
        await store.leaveReconciliation(run.id, 'b');
        expect(await store.adoptReconciliation('c', later(2001 + lease), lease)).toMatchObject({ id: run.id });
      },
    );

    test('a running run is free to be taken over as soon as the store is opened again', async () => {
      const place = sharedPlace(backend);
      const store = await storeOn(backend, place);
      const { run } = await store.startReconciliation(range, 'a', at, lease);
      const reopened = await storeOn(backend, place);
      const adopted = await reopened.adoptReconciliation('a', later(1000), lease);
      // On SQLite the one process that owns the file is a new one: the walk is its to go on with.
      // Replicas on PostgreSQL wait for the lease, since the walker may be alive elsewhere.
      if (backend === 'sqlite') expect(adopted).toMatchObject({ id: run.id });
      else expect(adopted).toBeUndefined();
    });

    test('tells which customers have a dead letter', async () => {
      const store = await storeOn(backend);
      await store.recordDeadLetter({ customerId: 4, customer: {}, status: 422, reason: 'no' }, at);
      await store.confirm(delivery(5), at, 'poll');
      expect(await store.deadLetteredAmong([3, 4, 5])).toEqual(new Set([4]));
      expect(await store.deadLetteredAmong([])).toEqual(new Set());
    });

    test('a confirmation without a path counts as made, in no path', async () => {
      const store = await storeOn(backend);
      await store.confirm(delivery(1), at);
      expect(await store.status()).toMatchObject({
        cursor: 1,
        synced: 1,
        deliveriesByPath: { webhook: 0, longPoll: 0, poll: 0 },
      });
    });
  });

  describe('replicas', () => {
    test(
      'lists the replicas whose heartbeat is at most a minute old, ' + 'each with when it started and was last seen',
      async () => {
        const store = await storeOn(backend);
        await store.heartbeat({ id: 'one', startedAt: at.toISOString() }, later(1000));
        await store.heartbeat({ id: 'two', startedAt: at.toISOString() }, later(2000));
        await store.heartbeat({ id: 'one', startedAt: at.toISOString() }, later(5000));
        expect((await store.status(later(6000))).replicas).toEqual([
          { id: 'one', startedAt: at.toISOString(), lastSeenAt: later(5000).toISOString() },
          { id: 'two', startedAt: at.toISOString(), lastSeenAt: later(2000).toISOString() },
        ]);
        expect(
          (await store.status(later(2000 + REPLICA_SEEN_WITHIN_MS + 1))).replicas.map((replica) => replica.id),
        ).toEqual(['one']);
      },
    );
  });
});

describe('the sync store on SQLite only', () => {
  /** The store on `db`, with the guard it gets in production. */
  const sqliteStoreOn = (db: Db) => createSqliteSyncStore(db, createStorageGuard(db, createSilentLogger()));

  test(
    'commits to the write-ahead log without a sync each time, ' + 'where the CRM and the Inventory sync every commit',
    () => {
      const db = openDatabase(freshFile());
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL, as every service opens it
      sqliteStoreOn(setUpSqlite(db, middlewareSchema.sqlite));
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL: safe against a killed process in WAL mode
      db.close();
    },
  );
});

describe('the sync store on PostgreSQL only', () => {
  test(
    'commits without waiting for the server’s disk, ' + 'where the CRM and the Inventory wait at every commit',
    async () => {
      const pg = await databases.postgres();
      expect(await pg.query('SHOW synchronous_commit')).toEqual([{ synchronous_commit: 'off' }]);
      expect(await pg.transaction((tx) => tx.query('SHOW synchronous_commit'))).toEqual([
        { synchronous_commit: 'off' },
      ]);
      const crm = await crmDatabases.postgres();
      expect(await crm.query('SHOW synchronous_commit')).toEqual([{ synchronous_commit: 'on' }]);
    },
  );
});
