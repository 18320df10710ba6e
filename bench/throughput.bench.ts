import { readFileSync } from 'node:fs';
import { test } from '@jest/globals';
import { waitFor } from '../test/support/servers.js';
import { getJson, Platform, postJson, type ServiceProcess } from '../test/e2e/platform.js';

// make bench: how fast customers go from the CRM to the Inventory, as a table.
// BENCH_SCALE=small shrinks every count for a look in under a minute.
const small = process.env.BENCH_SCALE === 'small';
const WRITES = small ? 1000 : 5000;
const BACKLOG = small ? 1000 : 5000;
const BURST = small ? 1000 : 5000;
const BIG_BACKLOG = small ? 10_000 : 100_000;
const CLIENTS = 32;
const secret = `whsec_${Buffer.alloc(24, 4).toString('base64')}`;

/** Sends `count` requests from `clients` concurrent clients; returns the rate per second and when the last one was answered. */
async function concurrently(count: number, clients: number, send: (i: number) => Promise<void>): Promise<{ perSecond: number; lastAt: number }> {
  let next = 0;
  let lastAt = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = (next += 1); i <= count; i = (next += 1)) {
        await send(i);
        lastAt = performance.now();
      }
    }),
  );
  return { perSecond: count / ((performance.now() - started) / 1000), lastAt };
}

async function postCustomers(platform: Platform, count: number, tag: string) {
  return concurrently(count, CLIENTS, async (i) => {
    const response = await postJson(`${platform.crm.url}/customers`, { name: `${tag} ${i}`, email: `${tag}-${i}@example.com` });
    if (response.status !== 201) throw new Error(`CRM answered ${response.status}`);
  });
}

/** Starts the middleware on a CRM that already holds its customers, and times the backlog. */
async function deliverBacklog(platform: Platform, count: number): Promise<number> {
  const started = performance.now();
  await platform.middleware.start();
  await waitFor('the backlog', async () => (await getJson(`${platform.middleware.url}/status`)).cursor >= count, 1_800_000);
  return count / ((performance.now() - started) / 1000);
}

/** CPU seconds a process has used so far (user + system), from /proc. */
function cpuSeconds(service: ServiceProcess): number {
  const fields = readFileSync(`/proc/${service.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The largest resident set the process has had (VmHWM), in MiB. */
function peakRssMiB(service: ServiceProcess): number {
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${service.pid}/status`, 'utf8'))?.[1] ?? 0);
  return kib / 1024;
}

/** CPU the middleware and the CRM use over ten idle seconds, as a share of one core. */
async function idleCpu(platform: Platform): Promise<string> {
  const before = [cpuSeconds(platform.middleware), cpuSeconds(platform.crm)];
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const after = [cpuSeconds(platform.middleware), cpuSeconds(platform.crm)];
  return `middleware ${((after[0]! - before[0]!) * 10).toFixed(1)} %, CRM ${((after[1]! - before[1]!) * 10).toFixed(1)} %`;
}

test(
  'throughput of the built services',
  async () => {
    const rows: Array<[string, string, string]> = [];
    const fresh = (options: ConstructorParameters<typeof Platform>[0] = {}) => new Platform({ pollIntervalMs: 5000, ...options });

    // The two upstreams alone, 32 clients each.
    let platform = await fresh().start({ middleware: false });
    let inventoryRate = 0;
    try {
      const crm = await postCustomers(platform, WRITES, 'w');
      rows.push([`CRM POST /customers, ${CLIENTS} clients`, `${crm.perSecond.toFixed(0)}/s`, 'its fsync per commit']);
      const inventory = await concurrently(WRITES, CLIENTS, async (i) => {
        const response = await postJson(`${platform.inventory.url}/packages`, { customerId: i, customerName: `w ${i}` });
        if (response.status !== 201) throw new Error(`Inventory answered ${response.status}`);
      });
      inventoryRate = inventory.perSecond;
      rows.push([`Inventory POST /packages, ${CLIENTS} clients`, `${inventoryRate.toFixed(0)}/s`, 'its fsync per commit']);
    } finally {
      await platform.close();
    }

    // A backlog the middleware finds waiting, one at a time and at the default concurrency.
    for (const concurrency of [1, undefined]) {
      platform = await fresh(concurrency ? { deliveryConcurrency: concurrency } : {}).start({ middleware: false });
      try {
        await postCustomers(platform, BACKLOG, 'b');
        const rate = await deliverBacklog(platform, BACKLOG);
        rows.push([
          `Backlog of ${BACKLOG}, DELIVERY_CONCURRENCY=${concurrency ?? 'default (16)'}`,
          `${rate.toFixed(0)}/s`,
          `${(rate / inventoryRate).toFixed(2)} of the Inventory's ${CLIENTS}-client rate`,
        ]);
        if (!concurrency) rows.push([`Idle CPU with ${BACKLOG} customers stored`, await idleCpu(platform), 'ten seconds, share of one core']);
      } finally {
        await platform.close();
      }
    }

    // A burst posted by 32 clients while everything runs as compose runs it (webhook, poll every 5 s).
    platform = await fresh({ webhookSecret: secret }).start();
    try {
      const burst = await postCustomers(platform, BURST, 'u');
      await waitFor('the burst', async () => (await getJson(`${platform.inventory.url}/packages?after=${BURST - 1}&limit=1`)).length > 0, 120_000);
      rows.push([`Burst of ${BURST} by ${CLIENTS} clients: last 201 → last package`, `${((performance.now() - burst.lastAt) / 1000).toFixed(2)} s`, 'webhooks, poll as backstop every 5 s']);
    } finally {
      await platform.close();
    }

    // A big backlog: time, the middleware's peak memory, and idle CPU once it is all stored.
    platform = await fresh().start({ middleware: false });
    try {
      await postCustomers(platform, BIG_BACKLOG, 'g');
      const started = performance.now();
      const rate = await deliverBacklog(platform, BIG_BACKLOG);
      rows.push([`Backlog of ${BIG_BACKLOG}`, `${((performance.now() - started) / 1000).toFixed(1)} s (${rate.toFixed(0)}/s)`, `middleware peak RSS ${peakRssMiB(platform.middleware).toFixed(0)} MiB`]);
      rows.push([`Idle CPU with ${BIG_BACKLOG} customers stored`, await idleCpu(platform), 'ten seconds, share of one core']);
    } finally {
      await platform.close();
    }

    const width = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
    const line = (row: string[]) => `  ${row.map((cell, i) => cell.padEnd(width[i]!)).join('  ')}`;
    process.stdout.write(`\nbench, throughput (${new Date().toISOString()}${small ? ', BENCH_SCALE=small' : ''}):\n${rows.map(line).join('\n')}\n`);
  },
  3_600_000,
);
