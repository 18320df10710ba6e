import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { createSilentLogger, createStorageGuard, openDatabase, setUpSqlite, type Db } from '@welcome/common';
import { middlewareSchema } from '../src/store/schema.js';
import { REPLICA_SEEN_WITHIN_MS } from '../src/store/status/status-store.js';
import { createMiddlewareStores, type MiddlewareStores } from '../src/store/stores.js';
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

/** The stores on a fresh database of `backend`, or on the one at `place` again (a reopen, a second replica). */
async function storeOn(backend: Backend, place: { path?: string; schema?: string } = {}): Promise<MiddlewareStores> {
  return createMiddlewareStores(await databases.open(backend, place));
}

/** Where a second store finds the first one's data: the same file, or the same schema. */
const sharedPlace = (backend: Backend) =>
  backend === 'sqlite' ? { path: freshFile() } : { schema: databases.newSchema() };

describe.each(BACKENDS)('the middleware stores on %s', (backend) => {
  test('starts at cursor 0 with nothing counted', async () => {
    expect(await (await storeOn(backend)).status.read(at)).toEqual({
      cursor: 0,
      lastPollAt: null,
      lastSuccessAt: null,
      created: 0,
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
    store.status.markWebhookReceived(at, 5);
    store.status.markWebhookReceived(at, 9);
    store.status.markWebhookReceived(later(1000), 7);
    await waitFor(
      'the webhooks to be noted',
      async () => (await store.status.read()).lastWebhookAt === later(1000).toISOString(),
    );
    expect(await store.status.read()).toMatchObject({ lastWebhookAt: later(1000).toISOString(), crmHighestId: 9 });
    store.status.markWebhookReceived(later(2000), 3);
    await waitFor(
      'the webhook to be noted',
      async () => (await store.status.read()).lastWebhookAt === later(2000).toISOString(),
    );
    expect((await store.status.read()).crmHighestId).toBe(9);
  });

  test('keeps the latest deliveries, newest first, and the lag behind the highest CRM id seen', async () => {
    const store = await storeOn(backend);
    for (let id = 1; id <= 25; id++) await store.deliveries.confirm(delivery(id), at, 'poll');
    await store.status.recordCrmHighest(30);
    await store.status.recordCrmHighest(12);
    const status = await store.status.read();
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
        store.deliveries.confirm(delivery(1), at, 'poll'),
        store.deliveries.confirm(delivery(2, 'alreadyThere'), at, 'webhook'),
        store.deliveries.confirm(delivery(4), at, 'longPoll'),
      ]);
      expect(await store.status.read()).toMatchObject({
        cursor: 2,
        created: 2,
        // The former name of `created`, kept for one release.
        synced: 2,
        alreadyThere: 1,
        deliveriesByPath: { webhook: 1, longPoll: 1, poll: 1 },
      });
      // 3 closes the gap: the cursor runs over 3 and the 4 confirmed before it.
      await store.deliveries.confirm(delivery(3), at, 'poll');
      expect(await store.deliveries.cursor()).toBe(4);
    },
  );

  test('keeps the cursor and the counters across a reopen', async () => {
    const place = sharedPlace(backend);
    const store = await storeOn(backend, place);
    await store.deliveries.confirm(delivery(3), new Date(), 'poll');
    await store.deliveries.confirm(delivery(4, 'alreadyThere'), new Date(), 'poll');
    await store.deliveries.advanceCursor(4);
    await store.status.markCycleFailed('Inventory', 'Inventory unavailable: answered 503', at);
    const reopened = await storeOn(backend, place);
    expect(await reopened.status.read()).toMatchObject({
      cursor: 4,
      created: 1,
      alreadyThere: 1,
      failedCycles: 1,
      lastError: 'Inventory unavailable: answered 503',
      outage: { upstream: 'Inventory', since: at.toISOString(), lastError: 'Inventory unavailable: answered 503' },
    });
  });

  test('never moves the cursor back', async () => {
    const store = await storeOn(backend);
    await store.deliveries.advanceCursor(10);
    await store.deliveries.advanceCursor(7);
    expect(await store.deliveries.cursor()).toBe(10);
  });

  test('moving the cursor past a customer carries it on over those handled right after', async () => {
    const store = await storeOn(backend);
    await store.deliveries.confirm(delivery(3), at, 'webhook');
    await store.deadLetters.record({ customerId: 4, customer: {}, status: 422, reason: 'no' }, at, {
      moveCursor: false,
    });
    expect(await store.deliveries.cursor()).toBe(0);
    await store.deliveries.advanceCursor(2);
    expect(await store.deliveries.cursor()).toBe(4);
  });

  test('a dead letter moves the cursor, keeps the reason, and counts attempts', async () => {
    const store = await storeOn(backend);
    const letter = { customerId: 5, customer: { id: 5, name: 'Eve' }, status: 409, reason: { detail: 'taken' } };
    const first = await store.deadLetters.record(letter, at);
    await store.deadLetters.record(
      { ...letter, reason: { detail: 'still taken' } },
      new Date('2026-01-03T00:00:00.000Z'),
    );
    expect(await store.deliveries.cursor()).toBe(5);
    expect(await store.deadLetters.find(first.id)).toEqual({
      id: first.id,
      customerId: 5,
      customer: { id: 5, name: 'Eve' },
      status: 409,
      reason: { detail: 'still taken' },
      attempts: 2,
      firstFailedAt: at.toISOString(),
      lastFailedAt: '2026-01-03T00:00:00.000Z',
    });
    expect((await store.status.read()).deadLetters).toBe(1);
  });

  test('a dead letter kept without moving the cursor waits for the customers before it', async () => {
    const store = await storeOn(backend);
    await store.deadLetters.record({ customerId: 2, customer: {}, status: 422, reason: 'no' }, at, {
      moveCursor: false,
    });
    expect(await store.deliveries.cursor()).toBe(0);
    await store.deliveries.confirm(delivery(1), at, 'poll');
    expect(await store.deliveries.cursor()).toBe(2);
  });

  test('a resolved dead letter leaves the list and counts as delivered', async () => {
    const store = await storeOn(backend);
    const letter = await store.deadLetters.record({ customerId: 5, customer: {}, status: 400, reason: 'bad' }, at);
    await store.deadLetters.resolve(
      letter.id,
      { customerId: 5, customerName: 'C5', packageId: 8, outcome: 'created' },
      at,
    );
    expect(await store.deadLetters.find(letter.id)).toBeUndefined();
    expect(await store.status.read()).toMatchObject({ deadLetters: 0, created: 1, cursor: 5 });
    expect((await store.status.read()).recentDeliveries).toEqual([
      { customerId: 5, customerName: 'C5', packageId: 8, outcome: 'created', at: at.toISOString() },
    ]);
  });

  test(
    'a dead letter ahead of the cursor, resolved, counts as confirmed: ' +
      'the cursor passes it with the customers before it',
    async () => {
      const store = await storeOn(backend);
      const letter = await store.deadLetters.record({ customerId: 2, customer: {}, status: 422, reason: 'no' }, at, {
        moveCursor: false,
      });
      await store.deadLetters.resolve(letter.id, delivery(2), at);
      expect(await store.deliveries.claim(2, 'a', at, 1000)).toEqual({
        state: 'confirmed',
        packageId: 102,
        outcome: 'created',
      });
      await store.deliveries.confirm(delivery(1), at, 'poll');
      expect(await store.deliveries.cursor()).toBe(2);
    },
  );

  test('lists dead letters by their own id, after a cursor', async () => {
    const store = await storeOn(backend);
    for (const id of [9, 2, 5])
      await store.deadLetters.record({ customerId: id, customer: {}, status: 400, reason: 'bad' }, at);
    expect((await store.deadLetters.list(0, 10)).map((l) => [l.id, l.customerId])).toEqual([
      [1, 9],
      [2, 2],
      [3, 5],
    ]);
    expect((await store.deadLetters.list(1, 1)).map((l) => l.customerId)).toEqual([2]);
  });

  test('a record without a customer id is kept once, by its content, and does not move the cursor', async () => {
    const store = await storeOn(backend);
    await store.deliveries.advanceCursor(3);
    const garbage = { customerId: null, customer: { id: 'x', name: 'Eve' }, status: null, reason: 'no id' };
    const first = await store.deadLetters.record(garbage, at);
    const again = await store.deadLetters.record(garbage, at);
    const other = await store.deadLetters.record({ ...garbage, customer: { id: 'y' } }, at);
    expect(again).toMatchObject({ id: first.id, customerId: null, attempts: 2 });
    expect(other.id).not.toBe(first.id);
    expect(await store.deliveries.cursor()).toBe(3);
  });

  test(
    'an outage starts with the first failed cycle and ends with the next success, ' + 'which says when it began',
    async () => {
      const store = await storeOn(backend);
      expect(await store.status.markCycleFailed('CRM', 'CRM unavailable: ECONNREFUSED', at)).toBe(true);
      expect(
        await store.status.markCycleFailed(
          'Inventory',
          'Inventory unavailable: answered 503',
          new Date('2026-01-02T03:05:00.000Z'),
        ),
      ).toBe(false);
      expect((await store.status.read()).outage).toEqual({
        upstream: 'Inventory',
        since: at.toISOString(),
        lastError: 'Inventory unavailable: answered 503',
      });
      expect(await store.status.markCycleSucceeded(new Date('2026-01-02T03:06:00.000Z'))).toEqual({
        upstream: 'Inventory',
        since: at.toISOString(),
        lastError: 'Inventory unavailable: answered 503',
      });
      expect(await store.status.read()).toMatchObject({
        outage: null,
        lastError: null,
        failedCycles: 2,
        lastSuccessAt: '2026-01-02T03:06:00.000Z',
      });
      expect(await store.status.markCycleSucceeded(at)).toBeUndefined();
    },
  );

  describe('claims', () => {
    const lease = 10_000;

    test(
      'a customer claimed by one owner is held from another until the lease ends, ' + 'then the other takes it',
      async () => {
        const store = await storeOn(backend);
        expect(await store.deliveries.claim(7, 'a', at, lease)).toEqual({ state: 'claimed' });
        expect(await store.deliveries.claim(7, 'b', later(1000), lease)).toEqual({
          state: 'claimedElsewhere',
          owner: 'a',
          until: later(lease).toISOString(),
        });
        expect(await store.deliveries.claim(7, 'a', later(2000), lease)).toEqual({ state: 'claimed' });
        expect(await store.deliveries.claim(7, 'b', later(2000 + lease), lease)).toEqual({ state: 'claimed' });
        expect(await store.deliveries.claim(7, 'a', later(2001 + lease), lease)).toMatchObject({
          state: 'claimedElsewhere',
          owner: 'b',
        });
      },
    );

    test('a released claim may be taken at once', async () => {
      const store = await storeOn(backend);
      await store.deliveries.claim(7, 'a', at, lease);
      await store.deliveries.release(7, 'b');
      expect(await store.deliveries.claim(7, 'b', at, lease)).toMatchObject({ state: 'claimedElsewhere' });
      await store.deliveries.release(7, 'a');
      expect(await store.deliveries.claim(7, 'b', at, lease)).toEqual({ state: 'claimed' });
    });

    test(
      'a customer handled already is not claimed but told: ' + 'confirmed, dead-lettered, or behind the cursor',
      async () => {
        const store = await storeOn(backend);
        await store.deliveries.claim(3, 'a', at, lease);
        await store.deliveries.confirm(delivery(3, 'alreadyThere'), at, 'poll');
        const letter = await store.deadLetters.record({ customerId: 4, customer: {}, status: 422, reason: 'no' }, at, {
          moveCursor: false,
        });
        // Long after the lease: the confirmation, not the lapsed claim, decides.
        expect(await store.deliveries.claim(3, 'b', later(10 * lease), lease)).toEqual({
          state: 'confirmed',
          packageId: 103,
          outcome: 'alreadyThere',
        });
        expect(await store.deliveries.claim(4, 'b', at, lease)).toEqual({
          state: 'deadLettered',
          deadLetterId: letter.id,
        });
        await store.deliveries.advanceCursor(9);
        expect(await store.deliveries.claim(3, 'b', at, lease)).toEqual({ state: 'behindCursor' });
        expect(await store.deliveries.claim(8, 'b', at, lease)).toEqual({ state: 'behindCursor' });
      },
    );

    test(
      'a replay claims a dead-lettered customer whatever delivery claim is left, ' +
        'and replays of one customer take turns',
      async () => {
        const store = await storeOn(backend);
        await store.deliveries.claim(4, 'a', at, lease);
        await store.deadLetters.record({ customerId: 4, customer: {}, status: 422, reason: 'no' }, at);
        expect(await store.deliveries.claim(4, 'b', at, lease, 'replay')).toEqual({ state: 'claimed' });
        expect(await store.deliveries.claim(4, 'c', at, lease, 'replay')).toMatchObject({
          state: 'claimedElsewhere',
          owner: 'b',
        });
        await store.deliveries.release(4, 'b');
        expect(await store.deliveries.claim(4, 'c', at, lease, 'replay')).toMatchObject({
          state: 'claimedElsewhere',
          owner: 'b',
        });
        await store.deliveries.release(4, 'b', 'replay');
        expect(await store.deliveries.claim(4, 'c', at, lease, 'replay')).toEqual({ state: 'claimed' });
      },
    );

    test('tells which of a set of customers are handled by now', async () => {
      const store = await storeOn(backend);
      await store.deliveries.advanceCursor(2);
      await store.deliveries.confirm(delivery(5), at, 'webhook');
      await store.deadLetters.record({ customerId: 7, customer: {}, status: 422, reason: 'no' }, at, {
        moveCursor: false,
      });
      await store.deliveries.claim(6, 'a', at, lease);
      expect([...(await store.deliveries.handledAmong([1, 2, 3, 5, 6, 7, 8]))].sort((a, b) => a - b)).toEqual([
        1, 2, 5, 7,
      ]);
      expect(await store.deliveries.handledAmong([])).toEqual(new Set());
    });
  });

  describe('reconciliations', () => {
    const lease = 60_000;
    const range = { fromId: 1, toId: 500, repair: true, openEnded: false };
    const noCounts = { missing: 0, mismatched: 0, orphaned: 0, repaired: 0 };
    const missing = (customerId: number) => ({ kind: 'missing' as const, customerId, customerName: `C${customerId}` });

    test('one runs at a time: a second start is told the running one, and once it ends another starts', async () => {
      const store = await storeOn(backend);
      const first = await store.reconciliations.start(range, 'a', at, lease);
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
      const second = await store.reconciliations.start({ ...range, repair: false }, 'b', later(1000), lease);
      expect(second).toEqual({ started: false, run: first.run });
      await store.reconciliations.finish(
        first.run.id,
        'a',
        { position: 500, counts: noCounts, findings: [] },
        { status: 'done' },
        later(2000),
      );
      const third = await store.reconciliations.start({ ...range, repair: false }, 'b', later(3000), lease);
      expect(third).toMatchObject({ started: true, run: { repair: false } });
      expect(third.run.id).toBeGreaterThan(first.run.id);
      expect(await store.reconciliations.latest()).toEqual(third.run);
      expect(await store.reconciliations.find(first.run.id)).toMatchObject({
        status: 'done',
        position: 500,
        finishedAt: later(2000).toISOString(),
      });
      expect((await store.reconciliations.list(0, 10)).map((run) => run.id)).toEqual([first.run.id, third.run.id]);
      expect((await store.reconciliations.list(first.run.id, 10)).map((run) => run.id)).toEqual([third.run.id]);
    });

    test('saves progress and counts, and keeps the first 100 findings only', async () => {
      const store = await storeOn(backend);
      const { run } = await store.reconciliations.start(range, 'a', at, lease);
      const first = Array.from({ length: 60 }, (_, n) => missing(n + 1));
      const counts = { ...noCounts, missing: 60, repaired: 60 };
      expect(
        await store.reconciliations.save(run.id, 'a', { position: 60, counts, findings: first }, later(1000), lease),
      ).toBe(true);
      const next = Array.from({ length: 60 }, (_, n) => missing(n + 61));
      const more = { ...counts, missing: 120, orphaned: 1 };
      expect(
        await store.reconciliations.save(
          run.id,
          'a',
          { position: 130, counts: more, findings: next },
          later(2000),
          lease,
        ),
      ).toBe(true);
      const saved = (await store.reconciliations.find(run.id))!;
      expect(saved).toMatchObject({
        status: 'running',
        position: 130,
        counts: more,
        updatedAt: later(2000).toISOString(),
      });
      expect(saved.findings.map((finding) => finding.customerId)).toEqual(Array.from({ length: 100 }, (_, n) => n + 1));
      await store.reconciliations.finish(
        run.id,
        'a',
        { position: 131, counts: more, findings: [missing(131)] },
        { status: 'failed', error: 'CRM unavailable: x' },
        later(3000),
      );
      expect(await store.reconciliations.find(run.id)).toMatchObject({
        status: 'failed',
        error: 'CRM unavailable: x',
        position: 131,
        finishedAt: later(3000).toISOString(),
      });
      expect((await store.reconciliations.find(run.id))!.findings).toHaveLength(100);
    });

    test(
      'a run whose lease ran out is taken over by another owner, ' + 'and its old owner can no longer save or end it',
      async () => {
        const store = await storeOn(backend);
        const { run } = await store.reconciliations.start(range, 'a', at, lease);
        await store.reconciliations.save(
          run.id,
          'a',
          { position: 40, counts: noCounts, findings: [] },
          later(1000),
          lease,
        );
        expect(await store.reconciliations.adopt('b', later(lease), lease)).toBeUndefined();
        const adopted = await store.reconciliations.adopt('b', later(1000 + lease), lease);
        expect(adopted).toMatchObject({ id: run.id, status: 'running', position: 40 });
        expect(await store.reconciliations.adopt('c', later(2000 + lease), lease)).toBeUndefined();
        expect(
          await store.reconciliations.save(
            run.id,
            'a',
            { position: 99, counts: noCounts, findings: [] },
            later(2000 + lease),
            lease,
          ),
        ).toBe(false);
        await store.reconciliations.finish(
          run.id,
          'a',
          { position: 99, counts: noCounts, findings: [] },
          { status: 'done' },
          later(2000 + lease),
        );
        expect(await store.reconciliations.find(run.id)).toMatchObject({ status: 'running', position: 40 });
        // A run left by its owner (a stop) is free at once.
        await store.reconciliations.leave(run.id, 'b');
        expect(await store.reconciliations.adopt('c', later(2001 + lease), lease)).toMatchObject({ id: run.id });
      },
    );

    test('a running run is free to be taken over as soon as the store is opened again', async () => {
      const place = sharedPlace(backend);
      const store = await storeOn(backend, place);
      const { run } = await store.reconciliations.start(range, 'a', at, lease);
      const reopened = await storeOn(backend, place);
      const adopted = await reopened.reconciliations.adopt('a', later(1000), lease);
      // On SQLite the one process that owns the file is a new one: the walk is its to go on with.
      // Replicas on PostgreSQL wait for the lease, since the walker may be alive elsewhere.
      if (backend === 'sqlite') expect(adopted).toMatchObject({ id: run.id });
      else expect(adopted).toBeUndefined();
    });

    test('tells which customers have a dead letter', async () => {
      const store = await storeOn(backend);
      await store.deadLetters.record({ customerId: 4, customer: {}, status: 422, reason: 'no' }, at);
      await store.deliveries.confirm(delivery(5), at, 'poll');
      expect(await store.deadLetters.deadLetteredAmong([3, 4, 5])).toEqual(new Set([4]));
      expect(await store.deadLetters.deadLetteredAmong([])).toEqual(new Set());
    });

    test('a confirmation without a path counts as made, in no path', async () => {
      const store = await storeOn(backend);
      await store.deliveries.confirm(delivery(1), at);
      expect(await store.status.read()).toMatchObject({
        cursor: 1,
        created: 1,
        deliveriesByPath: { webhook: 0, longPoll: 0, poll: 0 },
      });
    });
  });

  describe('replicas', () => {
    test(
      'lists the replicas whose heartbeat is at most a minute old, ' + 'each with when it started and was last seen',
      async () => {
        const store = await storeOn(backend);
        await store.status.heartbeat({ id: 'one', startedAt: at.toISOString() }, later(1000));
        await store.status.heartbeat({ id: 'two', startedAt: at.toISOString() }, later(2000));
        await store.status.heartbeat({ id: 'one', startedAt: at.toISOString() }, later(5000));
        expect((await store.status.read(later(6000))).replicas).toEqual([
          { id: 'one', startedAt: at.toISOString(), lastSeenAt: later(5000).toISOString() },
          { id: 'two', startedAt: at.toISOString(), lastSeenAt: later(2000).toISOString() },
        ]);
        expect(
          (await store.status.read(later(2000 + REPLICA_SEEN_WITHIN_MS + 1))).replicas.map((replica) => replica.id),
        ).toEqual(['one']);
      },
    );
  });
});

describe('the middleware stores on SQLite only', () => {
  /** The store on `db`, with the guard it gets in production. */
  const sqliteStoreOn = (db: Db) =>
    createMiddlewareStores({ kind: 'sqlite', db, storage: createStorageGuard(db, createSilentLogger()) });

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

describe('the middleware stores on PostgreSQL only', () => {
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
