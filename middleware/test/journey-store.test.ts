import { describe, expect, test } from '@jest/globals';
import type { JourneyEntry } from '../src/domain/model/journey.js';
import type { JourneyStore } from '../src/store/journeys/journey-store.js';
import { middlewareSchema } from '../src/store/schema.js';
import { createMiddlewareStores } from '../src/store/stores.js';
import { BACKENDS, testDatabases, type Backend } from '../../test/support/databases.js';

const databases = testDatabases('middleware', middlewareSchema);
const storeOn = async (backend: Backend): Promise<JourneyStore> =>
  createMiddlewareStores(await databases.open(backend)).journeys;

const t = (seconds: number) => new Date(Date.UTC(2026, 0, 2, 3, 4, 5) + seconds * 1000).toISOString();
const daysAgo = (days: number) => t(-days * 24 * 60 * 60);
const traceA = '4bf92f3577b34da6a3ce929d0e0e4736';

describe.each(BACKENDS)('journeys in the store on %s', (backend) => {
  test(
    "keeps each customer's steps with their details and traces, " +
      'in time order, then in the order they were recorded',
    async () => {
      const store = await storeOn(backend);
      await store.record([
        { customerId: 7, step: { kind: 'found', at: t(2), via: 'webhook' }, traceId: traceA },
        { customerId: 8, step: { kind: 'found', at: t(2), via: 'poll' } },
        {
          customerId: 7,
          step: { kind: 'asked', at: t(3), status: null, error: 'timed out after 5000 ms' },
          traceId: traceA,
        },
        { customerId: 7, step: { kind: 'asked', at: t(4), status: 201 }, traceId: traceA },
        { customerId: 7, step: { kind: 'outcome', at: t(4), outcome: 'created', packageId: 12 }, traceId: traceA },
      ]);
      await store.record([{ customerId: 7, step: { kind: 'created', at: t(1) } }]);

      expect(await store.stepsOf(7)).toEqual([
        { kind: 'created', at: t(1), traceId: null },
        { kind: 'found', at: t(2), via: 'webhook', traceId: traceA },
        { kind: 'asked', at: t(3), status: null, error: 'timed out after 5000 ms', traceId: traceA },
        { kind: 'asked', at: t(4), status: 201, traceId: traceA },
        { kind: 'outcome', at: t(4), outcome: 'created', packageId: 12, traceId: traceA },
      ]);
      expect(await store.stepsOf(8)).toEqual([{ kind: 'found', at: t(2), via: 'poll', traceId: null }]);
      expect(await store.stepsOf(9)).toEqual([]);
    },
  );

  test('writes a few thousand steps in one go, and nothing for none', async () => {
    const store = await storeOn(backend);
    await store.record([]);
    const steps = Array.from({ length: 5000 }, (_, index): JourneyEntry => ({
      customerId: 1 + (index % 2),
      step: { kind: 'asked', at: t(index), status: 500 + (index % 2) },
    }));
    await store.record(steps);
    const first = await store.stepsOf(1);
    expect(first).toHaveLength(2500);
    expect(first.every((step) => step.kind === 'asked' && step.status === 500)).toBe(true);
    expect(first.at(-1)).toEqual({ kind: 'asked', at: t(4998), status: 500, traceId: null });
  });

  test('prunes, a batch at a time, only the steps older than the time given', async () => {
    const store = await storeOn(backend);
    await store.record([
      ...[40, 35, 31].map((days): JourneyEntry => ({
        customerId: 1,
        step: { kind: 'found', at: daysAgo(days), via: 'poll' },
      })),
      { customerId: 1, step: { kind: 'outcome', at: daysAgo(29), outcome: 'created', packageId: 1 } },
      { customerId: 2, step: { kind: 'found', at: daysAgo(31), via: 'webhook' } },
    ]);
    expect(await store.prune(daysAgo(30), 3)).toBe(3);
    expect(await store.prune(daysAgo(30), 3)).toBe(1);
    expect(await store.prune(daysAgo(30), 3)).toBe(0);
    expect(await store.stepsOf(1)).toEqual([
      { kind: 'outcome', at: daysAgo(29), outcome: 'created', packageId: 1, traceId: null },
    ]);
    expect(await store.stepsOf(2)).toEqual([]);
  });
});
