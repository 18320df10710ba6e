import { readFileSync } from 'node:fs';
import { test } from '@jest/globals';
import { cpuSeconds, deliverBacklog, runLoad } from './measure.js';
import { waitFor } from '../test/support/servers.js';
import { getJson, Platform, type ServiceProcess } from '../test/e2e/platform.js';

// make bench: how fast customers go from the CRM to the Inventory, as a table.
// BENCH_SCALE=small shrinks every count for a look in under a minute.
const small = process.env.BENCH_SCALE === 'small';
const WRITES = small ? 1000 : 5000;
const BACKLOG = small ? 1000 : 5000;
const BURST = small ? 1000 : 5000;
const BIG_BACKLOG = small ? 10_000 : 100_000;
const CLIENTS = 32;
const secret = `whsec_${Buffer.alloc(24, 4).toString('base64')}`;

/** POSTs `count` customers or packages from 32 concurrent clients in a process of their own. */
const load = (url: string, count: number, kind: 'customers' | 'packages', tag: string) =>
  runLoad(url, count, kind, tag, { clients: CLIENTS });

const postCustomers = (platform: Platform, count: number, tag: string) =>
  load(`${platform.crm.url}/customers`, count, 'customers', tag);

/** The largest resident set the process has had (VmHWM), in MiB. */
function peakRssMiB(service: ServiceProcess): number {
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${service.pid}/status`, 'utf8'))?.[1] ?? 0);
  return kib / 1024;
}

/** The resident set the process has now (VmRSS), in MiB. */
function rssMiB(service: ServiceProcess): number {
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${service.pid}/status`, 'utf8'))?.[1] ?? 0);
  return kib / 1024;
}

/**
 * Reconciles every customer (none missing) while `newCustomers` more are posted: how long it
 * takes, what it found, and the middleware's memory before and at most during it.
 */
async function reconcileWhileDelivering(
  platform: Platform,
  stored: number,
  newCustomers: number,
): Promise<[string, string, string]> {
  const before = rssMiB(platform.middleware);
  let highest = before;
  const sampler = setInterval(() => {
    highest = Math.max(highest, rssMiB(platform.middleware));
  }, 100);
  try {
    const started = performance.now();
    const response = await fetch(`${platform.middleware.url}/reconciliations`, { method: 'POST' });
    const location = `${platform.middleware.url}${response.headers.get('location')}`;
    const posting = postCustomers(platform, newCustomers, 'r');
    const run = await waitFor(
      'the reconciliation',
      async () => {
        const current = await getJson(location);
        return current.status === 'running' ? undefined : current;
      },
      600_000,
    );
    const seconds = (performance.now() - started) / 1000;
    await posting;
    await waitFor(
      'the new customers',
      async () => (await getJson(`${platform.middleware.url}/status`)).cursor >= stored + newCustomers,
      120_000,
    );
    const { missing, mismatched, orphaned } = run.counts as { missing: number; mismatched: number; orphaned: number };
    return [
      `Reconciliation of ${stored}, ${newCustomers} new customers delivered meanwhile`,
      `${seconds.toFixed(1)} s (${run.status}, ${missing + mismatched + orphaned} found)`,
      `middleware RSS ${before.toFixed(0)} MiB before, at most ${highest.toFixed(0)} MiB during`,
    ];
  } finally {
    clearInterval(sampler);
  }
}

/** CPU the middleware and the CRM use over ten idle seconds, as a share of one core. */
async function idleCpu(platform: Platform): Promise<string> {
  const before = [cpuSeconds(platform.middleware.pid), cpuSeconds(platform.crm.pid)];
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const after = [cpuSeconds(platform.middleware.pid), cpuSeconds(platform.crm.pid)];
  return (
    `middleware ${((after[0]! - before[0]!) * 10).toFixed(1)} %, ` +
    `CRM ${((after[1]! - before[1]!) * 10).toFixed(1)} %`
  );
}

test('throughput of the built services', async () => {
  const rows: Array<[string, string, string]> = [];
  const fresh = (options: ConstructorParameters<typeof Platform>[0] = {}) =>
    new Platform({ pollIntervalMs: 5000, logLevel: 'warn', ...options });

  // The two upstreams alone, 32 clients each.
  let platform = await fresh().start({ middleware: false });
  let inventoryRate = 0;
  try {
    const crm = await postCustomers(platform, WRITES, 'w');
    rows.push([
      `CRM POST /customers, ${CLIENTS} clients`,
      `${crm.perSecond.toFixed(0)}/s`,
      'its commits, shared by requests that arrive together',
    ]);
    const inventory = await load(`${platform.inventory.url}/packages`, WRITES, 'packages', 'w');
    inventoryRate = inventory.perSecond;
    rows.push([
      `Inventory POST /packages, ${CLIENTS} clients`,
      `${inventoryRate.toFixed(0)}/s`,
      'its commits, shared by requests that arrive together',
    ]);
  } finally {
    await platform.close();
  }

  // A backlog the middleware finds waiting, one at a time and at the default concurrency.
  for (const concurrency of [1, undefined]) {
    platform = await fresh(concurrency ? { deliveryConcurrency: concurrency } : {}).start({ middleware: false });
    try {
      await postCustomers(platform, BACKLOG, 'b');
      const { rate } = await deliverBacklog(platform, BACKLOG);
      rows.push([
        `Backlog of ${BACKLOG}, DELIVERY_CONCURRENCY=${concurrency ?? 'default (16)'}`,
        `${rate.toFixed(0)}/s`,
        `${(rate / inventoryRate).toFixed(2)} of the Inventory's ${CLIENTS}-client rate`,
      ]);
      if (!concurrency)
        rows.push([
          `Idle CPU with ${BACKLOG} customers stored`,
          await idleCpu(platform),
          'ten seconds, share of one core',
        ]);
    } finally {
      await platform.close();
    }
  }

  // A burst posted by 32 clients while everything runs as compose runs it (webhook, poll every 5 s).
  platform = await fresh({ webhookSecret: secret }).start();
  try {
    const burst = await postCustomers(platform, BURST, 'u');
    await waitFor(
      'the burst',
      async () => (await getJson(`${platform.inventory.url}/packages?after=${BURST - 1}&limit=1`)).length > 0,
      120_000,
    );
    rows.push([
      `Burst of ${BURST} by ${CLIENTS} clients: last 201 → last package`,
      `${((Date.now() - burst.lastAt) / 1000).toFixed(2)} s`,
      'webhooks, the poller draining ahead of them',
    ]);
  } finally {
    await platform.close();
  }

  // A big backlog: time, the middleware's peak memory, and idle CPU once it is all stored.
  platform = await fresh().start({ middleware: false });
  try {
    await postCustomers(platform, BIG_BACKLOG, 'g');
    const { seconds, rate } = await deliverBacklog(platform, BIG_BACKLOG);
    rows.push([
      `Backlog of ${BIG_BACKLOG}`,
      `${seconds.toFixed(1)} s (${rate.toFixed(0)}/s)`,
      `middleware peak RSS ${peakRssMiB(platform.middleware).toFixed(0)} MiB`,
    ]);
    rows.push([
      `Idle CPU with ${BIG_BACKLOG} customers stored`,
      await idleCpu(platform),
      'ten seconds, share of one core',
    ]);
    rows.push(await reconcileWhileDelivering(platform, BIG_BACKLOG, small ? 500 : 2000));
  } finally {
    await platform.close();
  }

  const width = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => `  ${row.map((cell, i) => cell.padEnd(width[i]!)).join('  ')}`;
  process.stdout.write(
    `\nbench, throughput (${new Date().toISOString()}${small ? ', BENCH_SCALE=small' : ''}):\n` +
      `${rows.map(line).join('\n')}\n`,
  );
}, 3_600_000);
