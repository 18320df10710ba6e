import seedrandom from 'seedrandom';
import { waitFor } from '../support/servers.js';
import {
  getAll,
  getJson,
  Platform,
  type Customer,
  type Package,
  type ServiceName,
  type ServiceProcess,
} from '../e2e/platform.js';
import { SmallDisk } from '../support/small-disk.js';
import { describeFault, FaultProxy, type Fault } from '../support/fault-proxy.js';

export interface ChaosOptions {
  seed: number;
  rounds: number;
  /** How long the platform has, once the faults stop, to deliver everything. */
  convergeTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ChaosSummary {
  seed: number;
  customers: number;
  acknowledged: number;
  /** Customers the CRM refused with 507 while its disk was full (the client was told; nothing lost). */
  refusedForSpace: number;
  faults: number;
  /** Acknowledged customers missing from the CRM, plus CRM customers without a package. */
  lost: number;
  /** Customers with more than one package. */
  duplicated: number;
  misnamed: number;
  /** Packages for customers the CRM does not have. */
  phantom: number;
  deadLetters: number;
  cursor: number;
  highestId: number;
  convergedInMs: number;
}

export function summaryLine(s: ChaosSummary): string {
  return (
    `chaos seed=${s.seed}: customers=${s.customers} ` +
    `(acknowledged ${s.acknowledged}, refused for space ${s.refusedForSpace}), faults=${s.faults}, ` +
    `lost=${s.lost}, duplicated=${s.duplicated}, misnamed=${s.misnamed}, phantom=${s.phantom}, ` +
    `deadLetters=${s.deadLetters}, cursor=${s.cursor}/${s.highestId}, ` +
    `converged in ${(s.convergedInMs / 1000).toFixed(1)} s`
  );
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the three built services with a fault proxy in front of each upstream of the
 * middleware, creates customers in a steady stream, and injects faults from a schedule drawn from
 * `seed`: the same seed gives the same schedule. Then it lets the platform settle and counts.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosSummary> {
  const random = seedrandom(String(options.seed));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = (min: number, max: number) => Math.round(min + random() * (max - min));
  const log = options.log ?? (() => undefined);

  // Each database on a small disk of its own, when this user may mount one, so that disks can fill.
  const disks = new Map<ServiceName, SmallDisk>();
  for (const service of ['crm', 'inventory', 'middleware'] as const) {
    const disk = SmallDisk.mount(32);
    if (typeof disk === 'string') {
      log(`full-disk faults left out: ${disk}`);
      break;
    }
    disks.set(service, disk);
  }
  const platform = await new Platform({
    pollIntervalMs: 100,
    httpTimeoutMs: 800,
    backoffMaxMs: 800,
    dataDirs: Object.fromEntries([...disks].map(([service, disk]) => [service, disk.dir])),
  }).start({ middleware: false });
  const crmProxy = await new FaultProxy(platform.crm.url).listen();
  const inventoryProxy = await new FaultProxy(platform.inventory.url).listen();
  platform.middleware.env.CRM_URL = crmProxy.url;
  platform.middleware.env.INVENTORY_URL = inventoryProxy.url;
  await platform.middleware.start();

  // Every 201, as the CRM gave it: an id handed out twice shows as a customer the CRM does not have.
  const acknowledged: Array<[number, string]> = [];
  let refusedForSpace = 0;
  let producing = true;
  let made = 0;
  const createOne = async () => {
    made += 1;
    const name = `Chaos ${options.seed}-${made} ${pick(['Zoë', '李', 'O’Brien', 'Ana María', '👩‍🚀'])}`;
    try {
      const response = await fetch(`${platform.crm.url}/customers`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name, email: `chaos-${options.seed}-${made}@example.com` }),
        signal: AbortSignal.timeout(2000),
      });
      if (response.status === 201) acknowledged.push([((await response.json()) as Customer).id, name]);
      if (response.status === 507) refusedForSpace += 1;
    } catch {
      // Not acknowledged: the CRM is down or was killed mid-request. The check below still
      // covers such a customer if the CRM committed it.
    }
  };
  const producer = (async () => {
    while (producing) {
      await createOne();
      await pause(between(5, 30));
    }
  })();

  const restart = async (service: ServiceProcess) => {
    await service.kill();
    await pause(between(0, 400));
    await service.start();
  };
  const proxyFaults: Fault[] = [
    { kind: 'status', status: 500 },
    { kind: 'status', status: 503 },
    { kind: 'status', status: 429 },
    { kind: 'hang' },
    { kind: 'reset' },
    { kind: 'slow', ms: 300 },
    { kind: 'drop-answer' },
  ];
  const faults: Array<{ name: string; inject: () => Promise<void> }> = [
    { name: 'SIGKILL crm', inject: () => restart(platform.crm) },
    { name: 'SIGKILL inventory', inject: () => restart(platform.inventory) },
    { name: 'SIGKILL middleware', inject: () => restart(platform.middleware) },
    {
      name: 'SIGKILL middleware mid-batch',
      inject: async () => {
        await Promise.all(Array.from({ length: 40 }, () => createOne()));
        await pause(between(100, 400));
        await restart(platform.middleware);
      },
    },
    {
      name: 'CRM restarted under an open request',
      inject: async () => {
        crmProxy.set({ kind: 'stall', ms: 600 });
        await pause(between(100, 400));
        await restart(platform.crm);
        crmProxy.set(null);
      },
    },
    ...[...disks].map(([service, disk]) => ({
      name: `${service} disk full`,
      inject: async () => {
        disk.fill();
        // SQLite first fills the room its write-ahead log already holds (up to a thousand pages):
        // customers keep coming, ten at a time, until the service says its disk is full.
        const reportsFull = async () =>
          (await (await fetch(`${platform[service].url}/ready`)).text()).includes('"field":"storage"');
        const deadline = Date.now() + 15_000;
        while (!(await reportsFull())) {
          if (Date.now() > deadline) {
            log(`${service} kept every write on the full disk: they fit in the room its database already holds`);
            break;
          }
          await Promise.all(Array.from({ length: 10 }, () => createOne()));
        }
        await pause(between(300, 1500));
        disk.free();
      },
    })),
    ...[crmProxy, inventoryProxy].flatMap((proxy) =>
      proxyFaults.map((fault) => ({
        name: `${proxy === crmProxy ? 'crm' : 'inventory'} proxy: ${describeFault(fault)}`,
        inject: async () => {
          proxy.set(fault);
          await pause(between(300, 1500));
          proxy.set(null);
        },
      })),
    ),
  ];

  let injected = 0;
  try {
    for (let round = 1; round <= options.rounds; round += 1) {
      await pause(between(100, 600));
      const fault = pick(faults);
      log(`round ${round}: ${fault.name}`);
      await fault.inject();
      injected += 1;
    }
  } finally {
    for (const disk of disks.values()) disk.free();
    crmProxy.set(null);
    inventoryProxy.set(null);
    producing = false;
    await producer;
  }

  try {
    const settled = Date.now();
    const convergeTimeoutMs = options.convergeTimeoutMs ?? 60_000;
    const highestId = async () => (await getAll<Customer>(`${platform.crm.url}/customers`)).at(-1)?.id ?? 0;
    const target = await highestId();
    await waitFor(
      'the middleware to catch up',
      async () => (await getJson(`${platform.middleware.url}/status`)).cursor >= target,
      convergeTimeoutMs,
    );
    const convergedInMs = Date.now() - settled;

    const customers = await getAll<Customer>(`${platform.crm.url}/customers`);
    const packages = await getAll<Package>(`${platform.inventory.url}/packages`);
    const status = await getJson(`${platform.middleware.url}/status`);
    const inCrm = new Map(customers.map((c) => [c.id, c.name]));
    const perCustomer = new Map<number, Package[]>();
    for (const pkg of packages) perCustomer.set(pkg.customerId, [...(perCustomer.get(pkg.customerId) ?? []), pkg]);

    const missingFromCrm = acknowledged.filter(([id, name]) => inCrm.get(id) !== name).length;
    const withoutPackage = customers.filter((c) => !perCustomer.has(c.id)).length;
    return {
      seed: options.seed,
      customers: customers.length,
      acknowledged: acknowledged.length,
      refusedForSpace,
      faults: injected,
      lost: missingFromCrm + withoutPackage,
      duplicated: [...perCustomer.values()].filter((list) => list.length > 1).length,
      misnamed: customers.filter((c) => perCustomer.get(c.id)?.some((p) => p.customerName !== c.name)).length,
      phantom: [...perCustomer.keys()].filter((id) => !inCrm.has(id)).length,
      deadLetters: status.deadLetters as number,
      cursor: status.cursor as number,
      highestId: customers.at(-1)?.id ?? 0,
      convergedInMs,
    };
  } finally {
    await Promise.all([crmProxy.close(), inventoryProxy.close()]);
    await platform.close();
    for (const disk of disks.values()) disk.unmount();
  }
}
