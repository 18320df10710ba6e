import pg from 'pg';
import seedrandom from 'seedrandom';
import { Balancer } from '../support/balancer.js';
import { startThrowawayPostgres } from '../support/postgres-server.mjs';
import { waitFor } from '../support/servers.js';
import { getAll, getJson, ServiceProcess, type Customer, type Package, type ServiceName } from '../e2e/platform.js';

export interface PostgresChaosOptions {
  seed: number;
  rounds: number;
  convergeTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface PostgresChaosSummary {
  seed: number;
  customers: number;
  acknowledged: number;
  faults: number;
  databaseRestarts: number;
  /** Acknowledged customers the CRM does not have (as acknowledged), plus customers without a package. */
  lost: number;
  duplicated: number;
  misnamed: number;
  phantom: number;
  /** Ids the CRM handed out to two different customers. */
  idsReused: number;
  deadLetters: number;
  cursor: number;
  highestId: number;
  /** While the database was down: answers that were a 500, or that took longer than a few seconds. */
  outageFaults: string[];
  /** Which middleware replicas confirmed packages, by their counters. */
  replicasSeen: number;
  convergedInMs: number;
}

export function postgresSummaryLine(s: PostgresChaosSummary): string {
  return (
    `chaos (PostgreSQL, 2 CRM + 2 Inventory + 3 middleware) seed=${s.seed}: ` +
    `customers=${s.customers} (acknowledged ${s.acknowledged}), ` +
    `faults=${s.faults} (database restarts ${s.databaseRestarts}), ` +
    `lost=${s.lost}, duplicated=${s.duplicated}, misnamed=${s.misnamed}, ` +
    `phantom=${s.phantom}, idsReused=${s.idsReused}, outage faults=${s.outageFaults.length}, ` +
    `deadLetters=${s.deadLetters}, ` +
    `cursor=${s.cursor}/${s.highestId}, converged in ${(s.convergedInMs / 1000).toFixed(1)} s`
  );
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SECRET = `whsec_${Buffer.alloc(24, 42).toString('base64')}`;
/** While the database is down, an answer slower than this is a hang. */
const OUTAGE_ANSWER_LIMIT_MS = 8000;

/**
 * The platform scaled out on one PostgreSQL server: two CRM, two Inventory and three middleware
 * replicas, each group behind a round-robin balancer (the CRM's webhooks go to the middleware's),
 * customers posted to both CRM replicas in turn, any replica SIGKILLed at any moment, and the
 * database server itself stopped and started mid-stream. While it is down, every service must
 * answer 503 (writes with Retry-After) within seconds; afterwards everything converges.
 */
export async function runPostgresChaos(options: PostgresChaosOptions): Promise<PostgresChaosSummary> {
  const random = seedrandom(`pg-${options.seed}`);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = (min: number, max: number) => Math.round(min + random() * (max - min));
  const log = options.log ?? (() => undefined);

  // A server of the run's own, so that it can be stopped and started.
  const server = await startThrowawayPostgres({ maxConnections: 200 });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE chaos');
  await admin.end();
  const databaseUrl = server.url.replace(/\/postgres$/, '/chaos');

  const urlsOf = (replicas: ServiceProcess[]) => () => replicas.map((service) => service.url);
  const crms: ServiceProcess[] = [];
  const inventories: ServiceProcess[] = [];
  const middlewares: ServiceProcess[] = [];
  const crmBalancer = await new Balancer(urlsOf(crms)).listen();
  const inventoryBalancer = await new Balancer(urlsOf(inventories)).listen();
  const middlewareBalancer = await new Balancer(urlsOf(middlewares)).listen();
  const replica = (name: ServiceName, env: Record<string, string> = {}) =>
    new ServiceProcess(name, { DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: '5', ...env });
  crms.push(
    ...[1, 2].map(() =>
      replica('crm', {
        WEBHOOK_URL: `${middlewareBalancer.url}/webhooks/crm`,
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_BATCH_SIZE: '20',
        WEBHOOK_TIMEOUT_MS: '1000',
        WEBHOOK_RETRY_SCHEDULE_MS: '500,1000,2000',
      }),
    ),
  );
  inventories.push(...[1, 2].map(() => replica('inventory')));
  middlewares.push(
    ...[1, 2, 3].map(() =>
      replica('middleware', {
        CRM_URL: crmBalancer.url,
        INVENTORY_URL: inventoryBalancer.url,
        CRM_WEBHOOK_SECRET: SECRET,
        POLL_INTERVAL_MS: '100',
        HTTP_TIMEOUT_MS: '800',
        BACKOFF_MAX_MS: '800',
      }),
    ),
  );
  const all = [...crms, ...inventories, ...middlewares];

  const acknowledged: Array<[number, string]> = [];
  let made = 0;
  let producing = true;
  let databaseDown = false;
  const outageFaults: string[] = [];
  const createOne = async () => {
    made += 1;
    const name = `Chaos ${options.seed}-${made} ${pick(['Zoë', '李', 'O’Brien', 'Ana María', '👩‍🚀'])}`;
    const crm = crms[made % crms.length]!;
    const started = Date.now();
    try {
      const response = await fetch(`${crm.url}/customers`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name, email: `chaos-${options.seed}-${made}@example.com` }),
        signal: AbortSignal.timeout(OUTAGE_ANSWER_LIMIT_MS + 2000),
      });
      if (response.status === 201) acknowledged.push([((await response.json()) as Customer).id, name]);
      else if (response.status >= 500 && response.status !== 503)
        outageFaults.push(`POST /customers answered ${response.status}`);
      else if (response.status === 503 && !response.headers.get('retry-after'))
        outageFaults.push('POST /customers answered 503 without Retry-After');
    } catch {
      // Not acknowledged: the replica was killed mid-request, or it hung (counted below while the database is down).
      if (databaseDown && Date.now() - started >= OUTAGE_ANSWER_LIMIT_MS)
        outageFaults.push('POST /customers hung while the database was down');
    }
  };

  let databaseRestarts = 0;
  /** While the database is down, each running service must say so quickly: /ready 503, writes 503 + Retry-After. */
  const probeOutage = async () => {
    for (const service of all) {
      if (service.pid === undefined) continue;
      const started = Date.now();
      try {
        const ready = await fetch(`${service.url}/ready`, { signal: AbortSignal.timeout(OUTAGE_ANSWER_LIMIT_MS) });
        if (ready.status !== 503)
          outageFaults.push(`${service.name} /ready answered ${ready.status} while the database was down`);
        const write =
          service.name === 'inventory'
            ? await fetch(`${service.url}/packages`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ customerId: 9_000_000 + made, customerName: 'Probe' }),
                signal: AbortSignal.timeout(OUTAGE_ANSWER_LIMIT_MS),
              })
            : await fetch(`${service.url}/${service.name === 'crm' ? 'customers' : 'status'}`, {
                signal: AbortSignal.timeout(OUTAGE_ANSWER_LIMIT_MS),
              });
        if (write.status !== 503)
          outageFaults.push(
            `${service.name} ${write.url.replace(service.url, '')} answered ${write.status} ` +
              'while the database was down',
          );
        else if (!write.headers.get('retry-after'))
          outageFaults.push(`${service.name} answered 503 without Retry-After`);
      } catch (error) {
        // A replica killed by another fault meanwhile is not an answer; a slow one is.
        if (Date.now() - started >= OUTAGE_ANSWER_LIMIT_MS)
          outageFaults.push(`${service.name} did not answer within ${OUTAGE_ANSWER_LIMIT_MS} ms: ${String(error)}`);
      }
    }
  };

  const restart = async (service: ServiceProcess) => {
    await service.kill();
    await pause(between(0, 400));
    // While the database is down a replica cannot start (it stops with one line); it starts once it is back.
    await waitFor(`${service.name} to start again`, () => service.start().then(() => true), 60_000);
  };
  const faults: Array<{ name: string; inject: () => Promise<void> }> = [
    ...all.map((service, index) => ({
      name: `SIGKILL ${service.name} replica ${index}`,
      inject: () => restart(service),
    })),
    {
      name: 'SIGKILL a middleware replica mid-batch',
      inject: async () => {
        await Promise.all(Array.from({ length: 40 }, () => createOne()));
        await pause(between(50, 300));
        await restart(pick(middlewares));
      },
    },
    {
      name: 'database server restarted',
      inject: async () => {
        await server.pause();
        databaseDown = true;
        databaseRestarts += 1;
        await pause(between(300, 800));
        await probeOutage();
        await pause(between(0, 1500));
        await server.resume();
        databaseDown = false;
      },
    },
  ];

  let injected = 0;
  try {
    await Promise.all([...crms, ...inventories].map((service) => service.start()));
    await Promise.all(middlewares.map((service) => service.start()));
    const producer = (async () => {
      while (producing) {
        await createOne();
        await pause(between(5, 30));
      }
    })();
    try {
      for (let round = 1; round <= options.rounds; round += 1) {
        await pause(between(100, 600));
        // Every run stops the database server at least once, at a round of the seed's choosing.
        const fault = round === 1 + (options.seed % options.rounds) ? faults.at(-1)! : pick(faults);
        log(`round ${round}: ${fault.name}`);
        await fault.inject();
        injected += 1;
      }
    } finally {
      producing = false;
      await producer;
    }

    const settled = Date.now();
    const convergeTimeoutMs = options.convergeTimeoutMs ?? 90_000;
    const customersOf = () => getAll<Customer>(`${crms[0]!.url}/customers`);
    const target = (await customersOf()).at(-1)?.id ?? 0;
    await waitFor(
      'every middleware replica to see the cursor at the last customer',
      async () =>
        (await Promise.all(middlewares.map((service) => getJson(`${service.url}/status`)))).every(
          (status) => status.cursor >= target,
        ),
      convergeTimeoutMs,
    );
    const convergedInMs = Date.now() - settled;

    const customers = await customersOf();
    const packages = await getAll<Package>(`${inventories[1]!.url}/packages`);
    const status = await getJson(`${middlewares[2]!.url}/status`);
    const inCrm = new Map(customers.map((c) => [c.id, c.name]));
    const perCustomer = new Map<number, Package[]>();
    for (const pkg of packages.filter((p) => p.customerName !== 'Probe'))
      perCustomer.set(pkg.customerId, [...(perCustomer.get(pkg.customerId) ?? []), pkg]);
    const acknowledgedIds = new Map<number, string>();
    let idsReused = 0;
    for (const [id, name] of acknowledged) {
      if (acknowledgedIds.has(id) && acknowledgedIds.get(id) !== name) idsReused += 1;
      acknowledgedIds.set(id, name);
    }
    return {
      seed: options.seed,
      customers: customers.length,
      acknowledged: acknowledged.length,
      faults: injected,
      databaseRestarts,
      lost:
        acknowledged.filter(([id, name]) => inCrm.get(id) !== name).length +
        customers.filter((c) => !perCustomer.has(c.id)).length,
      duplicated: [...perCustomer.values()].filter((list) => list.length > 1).length,
      misnamed: customers.filter((c) => perCustomer.get(c.id)?.some((p) => p.customerName !== c.name)).length,
      phantom: [...perCustomer.keys()].filter((id) => !inCrm.has(id)).length,
      idsReused,
      deadLetters: status.deadLetters as number,
      cursor: status.cursor as number,
      highestId: customers.at(-1)?.id ?? 0,
      outageFaults,
      replicasSeen: (status.replicas as unknown[] | undefined)?.length ?? 0,
      convergedInMs,
    };
  } finally {
    producing = false;
    await Promise.all(all.map((service) => service.kill()));
    await Promise.all([crmBalancer.close(), inventoryBalancer.close(), middlewareBalancer.close()]);
    await server.stop();
  }
}
