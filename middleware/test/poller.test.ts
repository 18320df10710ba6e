import { describe, expect, test } from '@jest/globals';
import { createSilentLogger } from '@welcome/common';
import { startPoller } from '../src/domain/poller.js';
import { captureLogs } from '../../test/support/logs.js';
import { waitFor } from '../../test/support/servers.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the poller', () => {
  test('never overlaps cycles, even when a cycle outlasts the interval', async () => {
    let running = 0;
    let most = 0;
    let cycles = 0;
    const poller = startPoller({
      intervalMs: 1,
      logger: createSilentLogger(),
      cycle: async () => {
        running += 1;
        most = Math.max(most, running);
        await pause(30);
        running -= 1;
        cycles += 1;
      },
    });
    await waitFor('five cycles', () => cycles >= 5);
    await poller.stop();
    expect(most).toBe(1);
  });

  test('waits the interval after a cycle ends before the next one starts', async () => {
    const starts: number[] = [];
    const ends: number[] = [];
    const poller = startPoller({
      intervalMs: 100,
      logger: createSilentLogger(),
      cycle: async () => {
        starts.push(Date.now());
        await pause(50);
        ends.push(Date.now());
      },
    });
    await waitFor('three cycles', () => ends.length >= 3);
    await poller.stop();
    for (let i = 1; i < 3; i++) expect(starts[i]! - ends[i - 1]!).toBeGreaterThanOrEqual(95);
  });

  test('stop asks the cycle in flight to stop, waits for it, and arms no other', async () => {
    let cycles = 0;
    let sawStop = false;
    let finished = false;
    const poller = startPoller({
      intervalMs: 1,
      logger: createSilentLogger(),
      cycle: async (shouldStop) => {
        cycles += 1;
        while (!shouldStop()) await pause(5);
        sawStop = true;
        await pause(30);
        finished = true;
      },
    });
    await pause(20);
    await poller.stop();
    expect({ sawStop, finished }).toEqual({ sawStop: true, finished: true });
    await pause(30);
    expect(cycles).toBe(1);
  });

  test('a cycle that throws is logged and the polling goes on', async () => {
    const { logger, lines } = captureLogs();
    let cycles = 0;
    const poller = startPoller({
      intervalMs: 1,
      logger,
      cycle: async () => {
        cycles += 1;
        if (cycles === 1) throw new Error('boom');
      },
    });
    await waitFor('a second cycle', () => cycles >= 2);
    await poller.stop();
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', error: expect.stringContaining('boom') }));
  });
});
