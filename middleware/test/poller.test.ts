import { describe, expect, test } from '@jest/globals';
import { createSilentLogger } from '@welcome/common';
import { backoffDelay, startPoller } from '../src/domain/poller.js';
import type { CycleReport } from '../src/domain/sync.js';
import { captureLogs } from '../../test/support/logs.js';
import { waitFor } from '../../test/support/servers.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const idle: CycleReport = { found: 0, created: 0, alreadyThere: 0, deadLettered: 0 };

describe('the poller', () => {
  test('never overlaps cycles, even when a cycle outlasts the interval', async () => {
    let running = 0;
    let most = 0;
    let cycles = 0;
    const poller = startPoller({
      intervalMs: 1,
      maxBackoffMs: 1000,
      logger: createSilentLogger(),
      cycle: async () => {
        running += 1;
        most = Math.max(most, running);
        await pause(30);
        running -= 1;
        cycles += 1;
        return idle;
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
      maxBackoffMs: 1000,
      logger: createSilentLogger(),
      cycle: async () => {
        starts.push(Date.now());
        await pause(50);
        ends.push(Date.now());
        return idle;
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
      maxBackoffMs: 1000,
      logger: createSilentLogger(),
      cycle: async (shouldStop) => {
        cycles += 1;
        while (!shouldStop()) await pause(5);
        sawStop = true;
        await pause(30);
        finished = true;
        return idle;
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
      maxBackoffMs: 1000,
      logger,
      cycle: async () => {
        cycles += 1;
        if (cycles === 1) throw new Error('boom');
        return idle;
      },
    });
    await waitFor('a second cycle', () => cycles >= 2);
    await poller.stop();
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', error: expect.stringContaining('boom') }));
  });
});

describe('backing off while an upstream fails', () => {
  test('doubles from the poll interval with each failure in a row, up to the cap', () => {
    const top = () => 1;
    expect([1, 2, 3, 4, 5, 6, 7].map((failures) => backoffDelay(failures, 1000, 60_000, top))).toEqual([
      2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000,
    ]);
    expect(backoffDelay(500, 1000, 60_000, top)).toBe(60_000);
  });

  test('jitters between half the ceiling and the ceiling', () => {
    expect(backoffDelay(3, 1000, 60_000, () => 0)).toBe(4000);
    expect(backoffDelay(3, 1000, 60_000, () => 0.5)).toBe(6000);
  });

  test('waits longer after each failed cycle, and the interval again after a success', async () => {
    const script: CycleReport[] = [
      { ...idle, failure: 'down' },
      { ...idle, failure: 'down' },
      { ...idle, failure: 'down' },
      idle,
      idle,
    ];
    const starts: number[] = [];
    const poller = startPoller({
      intervalMs: 40,
      maxBackoffMs: 10_000,
      logger: createSilentLogger(),
      random: () => 1,
      cycle: async () => {
        starts.push(Date.now());
        return script[starts.length - 1] ?? idle;
      },
    });
    await waitFor('six cycles', () => starts.length >= 6);
    await poller.stop();
    const gaps = starts.slice(1).map((start, i) => start - starts[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(75);
    expect(gaps[1]).toBeGreaterThanOrEqual(155);
    expect(gaps[2]).toBeGreaterThanOrEqual(315);
    expect(gaps[3]).toBeLessThan(gaps[2]!);
  });

  test('starts the next cycle at once when the CRM had more than one cycle reads', async () => {
    const starts: number[] = [];
    const poller = startPoller({
      intervalMs: 60_000,
      maxBackoffMs: 60_000,
      logger: createSilentLogger(),
      cycle: async () => {
        starts.push(Date.now());
        return starts.length < 3 ? { ...idle, more: true } : idle;
      },
    });
    await waitFor('three cycles', () => starts.length >= 3);
    await poller.stop();
    expect(starts).toHaveLength(3);
  });
});
