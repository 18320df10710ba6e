import { test } from '@jest/globals';
import { Platform, postJson } from '../test/e2e/platform.js';

// make bench: from the CRM's 201 to the package listed by the Inventory, one customer at a time,
// in the three ways a customer reaches the middleware (BENCH_PUSH_SAMPLES customers each, 200 by default).
const samples = Number(process.env.BENCH_PUSH_SAMPLES ?? 200);
const pollIntervalMs = Number(process.env.BENCH_POLL_INTERVAL_MS ?? 100);
const secret = `whsec_${Buffer.alloc(24, 2).toString('base64')}`;

const modes: Array<{ name: string; platform: () => Platform }> = [
  { name: `plain poll (every ${pollIntervalMs} ms)`, platform: () => new Platform({ pollIntervalMs }) },
  { name: 'long poll (LONG_POLL_S=25)', platform: () => new Platform({ longPollS: 25, pollIntervalMs: 60_000 }) },
  {
    name: 'webhook (poll every 60 s as backstop)',
    platform: () => new Platform({ webhookSecret: secret, pollIntervalMs: 60_000 }),
  },
];

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Asks the Inventory, as fast as it answers, until the customer's package is listed. */
async function packageListed(inventoryUrl: string, customerId: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const listed = (await (await fetch(`${inventoryUrl}/packages?customerId=${customerId}`)).json()) as unknown[];
    if (listed.length > 0) return;
  }
  throw new Error(`no package for customer ${customerId} within 30 s`);
}

test(`latency from the CRM's 201 to the package, ${samples} customers in each mode`, async () => {
  const rows: string[] = [];
  for (const mode of modes) {
    const platform = await mode.platform().start();
    try {
      // The first customer warms every connection up and is not counted.
      const latencies: number[] = [];
      for (let i = 0; i <= samples; i++) {
        const made = await postJson(`${platform.crm.url}/customers`, {
          name: `Latency ${i}`,
          email: `latency-${i}@example.com`,
        });
        const acknowledged = performance.now();
        await packageListed(platform.inventory.url, made.body.id);
        if (i > 0) latencies.push(performance.now() - acknowledged);
      }
      const sorted = latencies.sort((a, b) => a - b);
      rows.push(
        `${mode.name.padEnd(40)} ` +
          `${[50, 95, 99].map((p) => `${percentile(sorted, p).toFixed(1).padStart(8)} ms`).join('')}`,
      );
    } finally {
      await platform.close();
    }
  }
  process.stdout.write(
    `\nbench, 201 → package listed (${new Date().toISOString()}):\n` +
      `  ${'mode'.padEnd(40)} ${['p50', 'p95', 'p99'].map((p) => p.padStart(11)).join('')}\n` +
      `${rows.map((row) => `  ${row}`).join('\n')}\n`,
  );
}, 1_800_000);
