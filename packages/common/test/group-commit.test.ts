import { describe, expect, test } from '@jest/globals';
import { groupCommit } from '../src/group-commit.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('group commit', () => {
  test('writes asked for in the same turn share one commit, and each learns its own outcome', async () => {
    const batches: number[][] = [];
    const write = groupCommit<number, number>((batch) => {
      batches.push(batch);
      return batch.map((n) => (n < 0 ? { ok: false, error: new Error(`refused ${n}`) } : { ok: true, value: n * 2 }));
    });
    const outcomes = await Promise.allSettled([write(1), write(-2), write(3)]);
    expect(batches).toEqual([[1, -2, 3]]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([2, 'refused -2', 6]);
  });

  test('with a spacing, a write after a quiet spell commits at once and the writes of the next interval share one commit', async () => {
    const batches: Array<{ items: number[]; at: number }> = [];
    const started = performance.now();
    const write = groupCommit<number>((batch) => void batches.push({ items: batch, at: performance.now() - started }), { spacingMs: 300 });

    await write(0);
    expect(batches).toEqual([{ items: [0], at: expect.any(Number) }]);
    expect(batches[0]!.at).toBeLessThan(150);

    // Five writes spread over the next 100 ms: one commit, no sooner than 300 ms after the first.
    const pending: Array<Promise<void>> = [];
    for (let n = 1; n <= 5; n++) {
      pending.push(write(n));
      await pause(20);
    }
    await Promise.all(pending);
    expect(batches.map((b) => b.items)).toEqual([[0], [1, 2, 3, 4, 5]]);
    expect(batches[1]!.at - batches[0]!.at).toBeGreaterThanOrEqual(295);
  });

  test('a commit that throws fails every write of its batch', async () => {
    const write = groupCommit<number>(() => {
      throw new Error('disk full');
    });
    const outcomes = await Promise.allSettled([write(1), write(2)]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });
});
