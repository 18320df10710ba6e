import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from '@jest/globals';
import { cpuSeconds, machineSeconds, runLoad } from './measure.js';
import { waitFor } from '../test/support/servers.js';
import { getAll, getJson, Platform, ROOT, type ServiceProcess } from '../test/e2e/platform.js';

// make bench: what push costs. The same burst, posted by 32 clients, lands with the middleware polling only,
// with the CRM's webhooks on as make run and compose start them, and with one event a request; beside them,
// how fast the original exercise's in-memory services take writes on this machine (bench/in-memory-service.mjs).
const BURST = Number(process.env.BENCH_BURST ?? (process.env.BENCH_SCALE === 'small' ? 1000 : 5000));
const WRITES = BURST;
const CLIENTS = 32;
const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;

const load = (url: string, count: number, kind: 'customers' | 'packages', tag: string, acks = false) =>
  runLoad(url, count, kind, tag, { clients: CLIENTS, acks });

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface BurstFigures {
  intake: number;
  landedS: number;
  p50: number;
  p99: number;
  /** CPU per customer, from the first POST until the last package. */
  crmCpuMs: number;
  middlewareCpuMs: number;
  inventoryCpuMs: number;
  loadCpuMs: number;
  /** While the CRM took the burst: the share of both cores busy, and the core-seconds left idle. */
  intakeBusy: number;
  intakeIdleS: number;
  /** Core-seconds the middleware and the Inventory spent from the first POST to the last package. */
  deliveryS: number;
}

/**
 * One burst of BURST customers on a fresh platform: the CRM's intake, when it all landed, 201 → package, CPU per
 * customer.
 */
async function burst(webhooks: { batchSize: number } | false): Promise<BurstFigures> {
  const push = webhooks ? { webhookSecret: secret, webhookBatchSize: webhooks.batchSize } : {};
  const platform = await new Platform({ pollIntervalMs: 5000, logsToFiles: true, ...push }).start();
  try {
    const services: ServiceProcess[] = [platform.crm, platform.middleware, platform.inventory];
    const cpuBefore = services.map((service) => cpuSeconds(service.pid));
    const machineBefore = machineSeconds();
    const posted = await load(`${platform.crm.url}/customers`, BURST, 'customers', 'burst', true);
    const machineAfter = machineSeconds();
    await waitFor(
      'the burst',
      async () => (await getJson(`${platform.inventory.url}/packages?after=${BURST - 1}&limit=1`)).length > 0,
      300_000,
    );
    const cpuS = services.map((service, i) => cpuSeconds(service.pid) - cpuBefore[i]!);
    const cpu = cpuS.map((seconds) => (seconds * 1000) / BURST);
    const busy = machineAfter.busy - machineBefore.busy;
    const idle = machineAfter.idle - machineBefore.idle;
    const packages = await getAll<{ customerId: number; createdAt: string }>(`${platform.inventory.url}/packages`);
    const madeAt = new Map(packages.map((pkg) => [pkg.customerId, Date.parse(pkg.createdAt)]));
    const latencies = posted.acks!.map(([id, at]) => madeAt.get(id)! - at).sort((a, b) => a - b);
    return {
      intake: posted.perSecond,
      landedS: (Math.max(...madeAt.values()) - posted.firstAt) / 1000,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      crmCpuMs: cpu[0]!,
      middlewareCpuMs: cpu[1]!,
      inventoryCpuMs: cpu[2]!,
      loadCpuMs: posted.cpuMs / BURST,
      intakeBusy: busy / (busy + idle),
      intakeIdleS: idle,
      deliveryS: cpuS[1]! + cpuS[2]!,
    };
  } finally {
    await platform.close();
  }
}

/** The in-memory stand-in for the original's services, started for one load. */
async function inMemoryRate(kind: 'customers' | 'packages'): Promise<number> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/in-memory-service.mjs')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve) =>
      child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
    );
    return (await load(`http://127.0.0.1:${port}/${kind}`, WRITES, kind, 'm')).perSecond;
  } finally {
    child.kill('SIGKILL');
  }
}

test(
  `the cost of push: a burst of ${BURST} with webhooks on and off, ` + 'and writes beside in-memory services',
  async () => {
    const rows: Array<[string, string, string]> = [];
    const polling = await burst(false);
    const pushed = await burst({ batchSize: 100 });
    const oneByOne = await burst({ batchSize: 1 });
    for (const [name, figures] of [
      ['polling only (POLL_INTERVAL_MS=5000)', polling],
      ['webhooks on, as shipped (WEBHOOK_BATCH_SIZE=100)', pushed],
      ['webhooks on, one event a request (WEBHOOK_BATCH_SIZE=1)', oneByOne],
    ] as const) {
      rows.push([
        `Burst of ${BURST}, ${name}: CRM intake`,
        `${figures.intake.toFixed(0)}/s`,
        `landed ${figures.landedS.toFixed(2)} s after the first POST`,
      ]);
      rows.push([`  201 → package during the burst`, `p50 ${figures.p50} ms, p99 ${figures.p99} ms`, '']);
      rows.push([
        `  CPU per customer`,
        `CRM ${figures.crmCpuMs.toFixed(2)} ms, middleware ${figures.middlewareCpuMs.toFixed(2)} ms`,
        `Inventory ${figures.inventoryCpuMs.toFixed(2)} ms, load generator ${figures.loadCpuMs.toFixed(2)} ms`,
      ]);
      rows.push([
        `  both cores while the CRM took it`,
        `${(figures.intakeBusy * 100).toFixed(0)} % busy, ${figures.intakeIdleS.toFixed(2)} core-s idle`,
        `middleware + Inventory: ${figures.deliveryS.toFixed(2)} core-s until the last package`,
      ]);
    }
    rows.push([
      'Push against polling only',
      `intake ${(pushed.intake / polling.intake).toFixed(2)}, landed ${(pushed.landedS / polling.landedS).toFixed(2)}`,
      `CPU: CRM ${(pushed.crmCpuMs / polling.crmCpuMs).toFixed(2)}, ` +
        `middleware ${(pushed.middlewareCpuMs / polling.middlewareCpuMs).toFixed(2)}`,
    ]);
    // Delivered while it is taken, each customer of a burst costs the load, the CRM, the middleware and the
    // Inventory their CPU on the same cores: the intake can be no faster than the cores over their sum.
    const cores = availableParallelism();
    const ceiling = (figures: BurstFigures, middlewareCpuMs: number) =>
      (cores * 1000) / (figures.loadCpuMs + figures.crmCpuMs + middlewareCpuMs + figures.inventoryCpuMs);
    rows.push([
      `Most a burst delivered as it comes can be taken on ${cores} cores`,
      `${ceiling(pushed, pushed.middlewareCpuMs).toFixed(0)}/s ` +
        `(${(ceiling(pushed, pushed.middlewareCpuMs) / polling.intake).toFixed(2)} of polling only)`,
      `with a middleware costing nothing and the CRM at its polling-only CPU: ` +
        `${ceiling(polling, 0).toFixed(0)}/s (${(ceiling(polling, 0) / polling.intake).toFixed(2)})`,
    ]);

    const platform = await new Platform({ logLevel: 'warn' }).start({ middleware: false });
    let crm: number;
    let inventory: number;
    try {
      crm = (await load(`${platform.crm.url}/customers`, WRITES, 'customers', 'w')).perSecond;
      inventory = (await load(`${platform.inventory.url}/packages`, WRITES, 'packages', 'w')).perSecond;
    } finally {
      await platform.close();
    }
    const memoryCrm = await inMemoryRate('customers');
    const memoryInventory = await inMemoryRate('packages');
    rows.push([
      `CRM POST /customers, ${CLIENTS} clients`,
      `${crm.toFixed(0)}/s`,
      `in memory ${memoryCrm.toFixed(0)}/s: ${(crm / memoryCrm).toFixed(2)}`,
    ]);
    rows.push([
      `Inventory POST /packages, ${CLIENTS} clients`,
      `${inventory.toFixed(0)}/s`,
      `in memory ${memoryInventory.toFixed(0)}/s: ${(inventory / memoryInventory).toFixed(2)}`,
    ]);

    const width = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
    const line = (row: string[]) => `  ${row.map((cell, i) => cell.padEnd(width[i]!)).join('  ')}`;
    process.stdout.write(`\nbench, the cost of push (${new Date().toISOString()}):\n${rows.map(line).join('\n')}\n`);
  },
  1_800_000,
);
