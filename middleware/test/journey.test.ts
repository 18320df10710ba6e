import { describe, expect, test } from '@jest/globals';
import { createSilentLogger } from '@welcome/common';
import { startJourneyRetention } from '../src/domain/journey-retention.js';
import { createJournal, describeJourney } from '../src/domain/journey.js';
import type { JourneyEntry } from '../src/domain/model/journey.js';
import type { JourneyStore } from '../src/store/journeys/journey-store.js';
import { middlewareSchema } from '../src/store/schema.js';
import { createMiddlewareStores } from '../src/store/stores.js';
import { BACKENDS, testDatabases, type Backend } from '../../test/support/databases.js';
import { captureLogs } from '../../test/support/logs.js';
import { waitFor } from '../../test/support/servers.js';

const databases = testDatabases('middleware', middlewareSchema);
const storeOn = async (backend: Backend): Promise<JourneyStore> =>
  createMiddlewareStores(await databases.open(backend)).journeys;

const t = (seconds: number) => new Date(Date.UTC(2026, 0, 2, 3, 4, 5) + seconds * 1000).toISOString();
const daysAgo = (days: number) => t(-days * 24 * 60 * 60);
const traceA = '4bf92f3577b34da6a3ce929d0e0e4736';
const traceB = '0af7651916cd43dd8448eb211c80319c';

/** A store whose journey writes are counted, and fail while `failing` is set. */
function countedStore(store: JourneyStore): JourneyStore & { writes: JourneyEntry[][]; failing: boolean } {
  const counted = Object.assign(Object.create(store) as JourneyStore, {
    writes: [] as JourneyEntry[][],
    failing: false,
  });
  counted.record = async (entries) => {
    counted.writes.push([...entries]);
    if (counted.failing) throw new Error('the database does not answer');
    await store.record(entries);
  };
  return counted;
}

describe.each(BACKENDS)('the journal on %s', (backend) => {
  test('writes the steps recorded together in one statement, and tells the latest trace of a journey', async () => {
    const store = countedStore(await storeOn(backend));
    const journal = createJournal({ journeys: store, logger: createSilentLogger() });
    for (let customerId = 1; customerId <= 100; customerId++) {
      journal.record(customerId, { kind: 'found', at: t(0), via: 'longPoll' }, traceA);
      journal.record(customerId, { kind: 'asked', at: t(1), status: 201 }, traceA);
      journal.record(customerId, { kind: 'outcome', at: t(1), outcome: 'created', packageId: customerId }, traceA);
    }
    journal.record(1, { kind: 'outcome', at: t(5), outcome: 'repaired', packageId: 1 }, traceB);
    journal.record(1, { kind: 'asked', at: t(6), status: 200 });
    await journal.flush();

    expect(store.writes.map((group) => group.length)).toEqual([302]);
    expect(await describeJourney({ journeys: store, traceUiUrl: undefined }, 1)).toEqual({
      customerId: 1,
      traceId: traceB,
      traceUrl: null,
      steps: [
        { kind: 'found', at: t(0), via: 'longPoll', traceId: traceA },
        { kind: 'asked', at: t(1), status: 201, traceId: traceA },
        { kind: 'outcome', at: t(1), outcome: 'created', packageId: 1, traceId: traceA },
        { kind: 'outcome', at: t(5), outcome: 'repaired', packageId: 1, traceId: traceB },
        { kind: 'asked', at: t(6), status: 200, traceId: null },
      ],
    });
  });

  test('a step recorded while a group is being written goes with the next group; flush waits for both', async () => {
    const store = countedStore(await storeOn(backend));
    const journal = createJournal({ journeys: store, logger: createSilentLogger() });
    journal.record(1, { kind: 'found', at: t(0), via: 'poll' });
    await waitFor('the first group to be written', async () => store.writes.length === 1);
    journal.record(1, { kind: 'asked', at: t(1), status: 201 });
    journal.record(1, { kind: 'outcome', at: t(1), outcome: 'created', packageId: 3 });
    await journal.flush();
    expect(store.writes.map((group) => group.length)).toEqual([1, 2]);
    expect((await describeJourney({ journeys: store, traceUiUrl: undefined }, 1)).steps).toHaveLength(3);
  });

  test('a time given with an offset is kept in UTC, so that it sorts among the others', async () => {
    const store = await storeOn(backend);
    const journal = createJournal({ journeys: store, logger: createSilentLogger() });
    journal.record(1, { kind: 'found', at: '2026-01-02T03:04:06.000Z', via: 'poll' });
    journal.record(1, { kind: 'created', at: '2026-01-02T04:04:05+01:00' });
    await journal.flush();
    expect(
      (await describeJourney({ journeys: store, traceUiUrl: undefined }, 1)).steps.map((step) => [step.kind, step.at]),
    ).toEqual([
      ['created', '2026-01-02T03:04:05.000Z'],
      ['found', '2026-01-02T03:04:06.000Z'],
    ]);
  });

  test(
    'a group that cannot be written is dropped and logged at debug; ' +
      'recording never throws, and the next groups are written',
    async () => {
      const store = countedStore(await storeOn(backend));
      const { logger, lines } = captureLogs('middleware');
      const journal = createJournal({ journeys: store, logger });
      store.failing = true;
      expect(() => journal.record(1, { kind: 'found', at: t(0), via: 'poll' })).not.toThrow();
      await journal.flush();
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'debug',
          message: expect.stringMatching(/^1 journey steps were dropped: .*does not answer/),
        }),
      ]);

      store.failing = false;
      journal.record(1, { kind: 'asked', at: t(1), status: 201 });
      await journal.flush();
      expect((await describeJourney({ journeys: store, traceUiUrl: undefined }, 1)).steps).toEqual([
        { kind: 'asked', at: t(1), status: 201, traceId: null },
      ]);
    },
  );

  test('a customer never seen has no journey: a 404 problem', async () => {
    const store = await storeOn(backend);
    await expect(describeJourney({ journeys: store, traceUiUrl: undefined }, 4711)).rejects.toMatchObject({
      status: 404,
      detail: expect.stringContaining('Customer 4711 has no journey'),
    });
  });

  test('the steps older than JOURNEY_RETENTION_DAYS are pruned at start, the rest kept', async () => {
    const store = await storeOn(backend);
    await store.record(
      Array.from({ length: 2500 }, (_, index): JourneyEntry => ({
        customerId: 1 + (index % 10),
        step: { kind: 'asked', at: daysAgo(31), status: 201 },
      })),
    );
    await store.record([
      { customerId: 1, step: { kind: 'outcome', at: daysAgo(29), outcome: 'created', packageId: 1 } },
    ]);
    const { logger, lines } = captureLogs('middleware');
    const pruner = startJourneyRetention({ journeys: store, retentionDays: 30, logger, now: () => new Date(t(0)) });
    await waitFor('the old steps pruned', async () => (await store.stepsOf(1)).length === 1);
    await pruner.stop();
    expect(await store.stepsOf(1)).toEqual([
      { kind: 'outcome', at: daysAgo(29), outcome: 'created', packageId: 1, traceId: null },
    ]);
    expect(await store.stepsOf(2)).toEqual([]);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'info', message: 'Pruned 2500 journey steps older than 30 days', pruned: 2500 }),
    );
  });
});

describe('the journal while the database hangs', () => {
  test(
    'keeps at most 20,000 steps waiting in memory, ' + 'drops the rest, and says how many once it writes again',
    async () => {
      let release = () => {};
      const hanging = new Promise<void>((resolve) => (release = resolve));
      const written: number[] = [];
      const store = {
        async record(entries: readonly JourneyEntry[]) {
          written.push(entries.length);
          await hanging;
        },
      };
      const { logger, lines } = captureLogs('middleware');
      const journal = createJournal({ journeys: store, logger });
      journal.record(1, { kind: 'found', at: t(0), via: 'poll' });
      await waitFor('the first write to hang', async () => written.length === 1);
      for (let customerId = 2; customerId <= 20_005; customerId++)
        journal.record(customerId, { kind: 'found', at: t(0), via: 'poll' });
      release();
      await journal.flush();
      expect(written).toEqual([1, 19_999]);
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'debug',
          message: '5 journey steps were dropped: 20000 were waiting to be written',
          steps: 5,
        }),
      ]);
    },
  );
});

describe('the journey pruner', () => {
  test(
    'deletes 1,000 steps a statement with a turn of the event loop between, ' + 'and prunes again an interval later',
    async () => {
      const calls: Array<{ before: string; limit: number; afterATurn: boolean }> = [];
      let left = 2500;
      let turned = true;
      const store = {
        async prune(before: string, limit: number) {
          calls.push({ before, limit, afterATurn: turned });
          turned = false;
          setImmediate(() => (turned = true));
          const deleted = Math.min(left, limit);
          left -= deleted;
          return deleted;
        },
      };
      const pruner = startJourneyRetention({
        journeys: store,
        retentionDays: 7,
        logger: createSilentLogger(),
        now: () => new Date(t(0)),
        everyMs: 20,
      });
      await waitFor('a second round', async () => calls.length >= 4);
      await pruner.stop();
      // 1,000, 1,000 and 500: the round ends on a short batch; the next starts an interval later.
      expect(calls.slice(0, 4)).toEqual(Array(4).fill({ before: daysAgo(7), limit: 1000, afterATurn: true }));
      expect(left).toBe(0);
    },
  );

  test('a database out of reach is logged and tried again next time', async () => {
    let attempts = 0;
    const store = {
      async prune(): Promise<number> {
        attempts += 1;
        if (attempts === 1) throw new Error('connection refused');
        return 0;
      },
    };
    const { logger, lines } = captureLogs('middleware');
    const pruner = startJourneyRetention({
      journeys: store,
      retentionDays: 30,
      logger,
      now: () => new Date(t(0)),
      everyMs: 10,
    });
    await waitFor('a second try', async () => attempts >= 2);
    await pruner.stop();
    expect(lines[0]).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(/^Old journey steps could not be pruned \(connection refused\)/),
    });
  });
});
