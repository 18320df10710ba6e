import { afterAll, test } from '@jest/globals';
import { insideRetryAfter, peakPerSecond, startGateway, type Gateway } from './gateway.js';
import { runLoad } from './measure.js';
import { waitFor } from '../test/support/servers.js';
import { createTestDatabase } from '../test/support/databases.js';
import { getAll, getJson, Platform, ServiceProcess, type Package } from '../test/e2e/platform.js';

// make bench: the middleware's manners toward an Inventory behind a rate-limiting gateway (a token
// bucket answering 429 with Retry-After: 2 above its rate) that browns out for a while (503 with
// Retry-After: 5 to everything). BENCH_SCALE=small shrinks the counts.
const small = process.env.BENCH_SCALE === 'small';
const BACKLOG = small ? 1000 : 5000;
const BURST = small ? 500 : 2000;
const secret = `whsec_${Buffer.alloc(24, 4).toString('base64')}`;
/** Requests that came within this long of a Retry-After had been sent before the middleware could know of it. */
const IN_FLIGHT_GRACE_MS = 50;

const dropped: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(dropped.map((drop) => drop()));
});

interface Run {
  name: string;
  customers: number;
  limit: number;
  brownoutS: number;
  seconds: number;
  gateway: Gateway;
  deadLetters: number;
  duplicates: number;
}

/** Starts the middleware replicas on the platform, every one asking the Inventory through the gateway. */
async function startThrough(platform: Platform, gateway: Gateway, limit: number, replicas: number) {
  const env = { ...platform.middleware.env, INVENTORY_URL: gateway.url, INVENTORY_RATE_LIMIT: String(limit) };
  Object.assign(platform.middleware.env, env);
  const others = Array.from({ length: replicas - 1 }, () => new ServiceProcess('middleware', { ...env }));
  await Promise.all([platform.middleware, ...others].map((middleware) => middleware.start()));
  return others;
}

async function outcome(platform: Platform, customers: number) {
  await waitFor(
    'every package',
    async () => (await getJson(`${platform.middleware.url}/status`)).cursor >= customers,
    1_800_000,
  );
  const packages = await getAll<Package>(`${platform.inventory.url}/packages`);
  const status = await getJson(`${platform.middleware.url}/status`);
  return {
    deadLetters: status.deadLetters as number,
    duplicates: packages.length - new Set(packages.map((p) => p.customerId)).size,
  };
}

/** A backlog the middleware finds waiting, delivered through the gateway at `limit` a second. */
async function backlog(
  name: string,
  limit: number,
  options: { replicas?: number; databaseUrl?: string } = {},
): Promise<Run> {
  const platform = await new Platform({
    logLevel: 'warn',
    pollIntervalMs: 1000,
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
  }).start({ middleware: false });
  const gateway = await startGateway(platform.inventory.url, { ratePerSecond: limit, retryAfterS: 2 });
  try {
    await runLoad(`${platform.crm.url}/customers`, BACKLOG, 'customers', 'flow', { clients: 32 });
    const others = await startThrough(platform, gateway, limit, options.replicas ?? 1);
    const started = performance.now();
    const { deadLetters, duplicates } = await outcome(platform, BACKLOG);
    const seconds = (performance.now() - started) / 1000;
    await Promise.all(others.map((middleware) => middleware.kill()));
    return { name, customers: BACKLOG, limit, brownoutS: 0, seconds, gateway, deadLetters, duplicates };
  } finally {
    await gateway.close();
    await platform.close();
  }
}

/** The burst with webhooks on (as make run configures it), with a brownout of the Inventory in the middle of it. */
async function burst(limit: number, brownoutS: number): Promise<Run> {
  const platform = await new Platform({ logLevel: 'warn', webhookSecret: secret, logsToFiles: true }).start({
    middleware: false,
  });
  const gateway = await startGateway(platform.inventory.url, { ratePerSecond: limit, retryAfterS: 2 });
  try {
    await startThrough(platform, gateway, limit, 1);
    const started = performance.now();
    const brownout = new Promise<void>((done) =>
      setTimeout(() => {
        const during = gateway.brownout(5);
        setTimeout(() => done(during.end()), brownoutS * 1000);
      }, 3000),
    );
    await runLoad(`${platform.crm.url}/customers`, BURST, 'customers', 'burst', { clients: 32 });
    await brownout;
    const { deadLetters, duplicates } = await outcome(platform, BURST);
    const seconds = (performance.now() - started) / 1000;
    const name = `burst of ${BURST}, webhooks on, ${brownoutS} s brownout`;
    return { name, customers: BURST, limit, brownoutS, seconds, gateway, deadLetters, duplicates };
  } finally {
    await gateway.close();
    await platform.close();
  }
}

function rows(run: Run): string[] {
  const asks = run.gateway.requests.filter((request) => request.method === 'POST');
  const refused = asks.filter((request) => request.status === 429 || request.status === 503).length;
  const ideal = run.customers / run.limit + run.brownoutS;
  const inside = insideRetryAfter(run.gateway, IN_FLIGHT_GRACE_MS).length;
  return [
    `${run.name}, limit ${run.limit}/s:`,
    `  requests per customer      ${(asks.length / run.customers).toFixed(2)} (target ≤ 1.10)`,
    `  refused (429/503)          ${((refused / Math.max(1, asks.length)) * 100).toFixed(1)} % (target ≤ 5 %)`,
    `  most in one second         ${peakPerSecond(run.gateway.requests)} ` +
      `(limit ${run.limit}, +5 %: ${Math.floor(run.limit * 1.05)})`,
    `  sent into a Retry-After    ${inside} beyond those already sent (${IN_FLIGHT_GRACE_MS} ms) (target 0)`,
    `  drained in                 ${run.seconds.toFixed(1)} s = ${(run.seconds / ideal).toFixed(2)} × ` +
      `the ideal ${ideal.toFixed(1)} s (target ≤ 1.10)`,
    `  dead letters, duplicates   ${run.deadLetters}, ${run.duplicates} (target 0, 0)`,
  ];
}

test('good manners toward a struggling Inventory', async () => {
  const runs: Run[] = [];
  runs.push(await backlog(`backlog of ${BACKLOG}, one middleware on SQLite`, 100));
  runs.push(await burst(50, 10));
  const made = await createTestDatabase();
  dropped.push(made.drop);
  runs.push(
    await backlog(`backlog of ${BACKLOG}, two middleware replicas on PostgreSQL`, 100, {
      replicas: 2,
      databaseUrl: made.url,
    }),
  );
  process.stdout.write(
    `\nbench, flow control toward the Inventory (${new Date().toISOString()}):\n${runs.flatMap(rows).join('\n')}\n`,
  );
}, 3_600_000);
