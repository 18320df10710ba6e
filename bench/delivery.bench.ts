import { expect, test } from '@jest/globals';
import { waitFor } from '../test/support/servers.js';
import { getJson, Platform, postJson } from '../test/e2e/platform.js';

// make bench: how fast the built services carry customers from the CRM to the Inventory.
// Numbers, not verdicts: run it on a quiet machine and compare runs on the same one.
const customers = Number(process.env.BENCH_CUSTOMERS ?? 1000);
const pollIntervalMs = Number(process.env.BENCH_POLL_INTERVAL_MS ?? 100);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return (
    `p50 ${percentile(sorted, 50).toFixed(1)} ms, p95 ${percentile(sorted, 95).toFixed(1)} ms, ` +
    `p99 ${percentile(sorted, 99).toFixed(1)} ms`
  );
};

test(`delivery of ${customers} customers`, async () => {
  const platform = await new Platform({ pollIntervalMs }).start({ middleware: false });
  const lines: string[] = [];
  try {
    const createLatencies: number[] = [];
    const createStart = performance.now();
    for (let i = 1; i <= customers; i++) {
      const started = performance.now();
      const response = await postJson(`${platform.crm.url}/customers`, {
        name: `Bench ${i}`,
        email: `bench-${i}@example.com`,
      });
      createLatencies.push(performance.now() - started);
      expect(response.status).toBe(201);
    }
    const createSeconds = (performance.now() - createStart) / 1000;
    lines.push(
      `CRM POST /customers, one at a time: ${(customers / createSeconds).toFixed(0)}/s; ${summary(createLatencies)}`,
    );

    const backlogStart = performance.now();
    await platform.middleware.start();
    await waitFor(
      'the backlog',
      async () => (await getJson(`${platform.middleware.url}/status`)).cursor >= customers,
      300_000,
    );
    const backlogSeconds = (performance.now() - backlogStart) / 1000;
    lines.push(
      `Backlog of ${customers} delivered by the middleware (from its start): ${backlogSeconds.toFixed(2)} s, ` +
        `${(customers / backlogSeconds).toFixed(0)} customers/s`,
    );

    const endToEnd: number[] = [];
    for (let i = 1; i <= 50; i++) {
      const started = performance.now();
      const made = await postJson(`${platform.crm.url}/customers`, {
        name: `Live ${i}`,
        email: `live-${i}@example.com`,
      });
      await waitFor(
        'the package',
        async () => (await getJson(`${platform.inventory.url}/packages?customerId=${made.body.id}`)).length > 0,
        30_000,
      );
      endToEnd.push(performance.now() - started);
    }
    lines.push(
      `Customer created → package seen, one at a time (poll interval ${pollIntervalMs} ms): ${summary(endToEnd)}`,
    );
  } finally {
    await platform.close();
  }
  process.stdout.write(`\nbench (${new Date().toISOString()}):\n${lines.map((line) => `  ${line}`).join('\n')}\n`);
}, 600_000);
