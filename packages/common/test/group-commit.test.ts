import { describe, expect, jest, test } from '@jest/globals';
import { groupCommit } from '../src/group-commit.js';

describe('group commit', () => {
  test('writes asked for in the same turn share one commit, and each learns its own outcome', async () => {
    const batches: number[][] = [];
    const write = groupCommit<number, number>((batch) => {
      batches.push(batch);
      return batch.map((n) => (n < 0 ? { ok: false, error: new Error(`refused ${n}`) } : { ok: true, value: n * 2 }));
    });
    const outcomes = await Promise.allSettled([write(1), write(-2), write(3)]);
    expect(batches).toEqual([[1, -2, 3]]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([
      2,
      'refused -2',
      6,
    ]);
  });

  test(
    'with a spacing, a write after a quiet spell commits at once ' +
      'and the writes of the next interval share one commit',
    async () => {
      // Jest's clock, not the machine's: the commits' times are exact, however busy the machine is.
      jest.useFakeTimers();
      try {
        const batches: Array<{ items: number[]; at: number }> = [];
        const write = groupCommit<number>((batch) => void batches.push({ items: batch, at: performance.now() }), {
          spacingMs: 300,
        });
        const started = performance.now();

        const first = write(0);
        await jest.advanceTimersByTimeAsync(0);
        await first;
        expect(batches).toEqual([{ items: [0], at: started }]);

        // Five writes spread over the next 100 ms: nothing is committed before 300 ms after the
        // first, then all at once.
        const pending: Array<Promise<void>> = [];
        for (let n = 1; n <= 5; n++) {
          pending.push(write(n));
          await jest.advanceTimersByTimeAsync(20);
        }
        await jest.advanceTimersByTimeAsync(199);
        expect(batches).toHaveLength(1);
        await jest.advanceTimersByTimeAsync(1);
        await Promise.all(pending);
        expect(batches).toEqual([
          { items: [0], at: started },
          { items: [1, 2, 3, 4, 5], at: started + 300 },
        ]);
      } finally {
        jest.useRealTimers();
      }
    },
  );

  test('a commit that throws fails every write of its batch', async () => {
    const write = groupCommit<number>(() => {
      throw new Error('disk full');
    });
    const outcomes = await Promise.allSettled([write(1), write(2)]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });
});
