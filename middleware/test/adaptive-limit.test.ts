import { describe, expect, test } from '@jest/globals';
import { createAdaptiveLimit } from '../src/domain/flow/adaptive-limit.js';

/** A limit on a clock the test moves. */
function limited(ceiling: number) {
  let now = 0;
  const limit = createAdaptiveLimit({ ceiling, slowMs: 100, clock: () => now });
  return { limit, later: (ms: number) => (now += ms) };
}

describe('the adaptive number of asks in flight (AIMD)', () => {
  test('starts at the ceiling and lets no more in at once', async () => {
    const { limit } = limited(3);
    await Promise.all([limit.acquire(), limit.acquire(), limit.acquire()]);
    let fourth = false;
    void limit.acquire().then(() => (fourth = true));
    await Promise.resolve();
    expect([limit.current(), limit.inFlight(), fourth]).toEqual([3, 3, false]);
    limit.release({ kind: 'answered', latencyMs: 5 });
    await Promise.resolve();
    expect(fourth).toBe(true);
  });

  test('halves on overload, once a second at most, never below one', async () => {
    const { limit, later } = limited(16);
    const overloaded = async (times: number) => {
      for (let n = 0; n < times; n++) {
        await limit.acquire();
        limit.release({ kind: 'overloaded' });
      }
    };
    await overloaded(5);
    expect(limit.current()).toBe(8);
    later(1000);
    await overloaded(1);
    expect(limit.current()).toBe(4);
    for (let n = 0; n < 5; n++) {
      later(1000);
      await overloaded(1);
    }
    expect(limit.current()).toBe(1);
  });

  test('grows by about one a round of fast answers, up to the ceiling; slow answers change nothing', async () => {
    const { limit, later } = limited(4);
    await limit.acquire();
    limit.release({ kind: 'overloaded' });
    later(1000);
    await limit.acquire();
    limit.release({ kind: 'overloaded' });
    expect(limit.current()).toBe(1);
    const answer = async (latencyMs: number) => {
      await limit.acquire();
      limit.release({ kind: 'answered', latencyMs });
    };
    for (let n = 0; n < 10; n++) await answer(500);
    expect(limit.current()).toBe(1);
    await answer(5);
    expect(limit.current()).toBe(2);
    // 2 + 1/2 + 1/2.5 + 1/2.9: a round of fast answers at two in flight.
    for (let n = 0; n < 3; n++) await answer(5);
    expect(limit.current()).toBe(3);
    for (let n = 0; n < 100; n++) await answer(5);
    expect(limit.current()).toBe(4);
  });

  test('an ask that was held, not asked, teaches nothing', async () => {
    const { limit } = limited(2);
    await limit.acquire();
    limit.release({ kind: 'none' });
    expect([limit.current(), limit.inFlight()]).toEqual([2, 0]);
  });
});
