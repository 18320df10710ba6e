import { afterAll, test } from '@jest/globals';
import { runLoad } from './measure.js';
import { waitFor } from '../test/support/servers.js';
import { createTestDatabase } from '../test/support/databases.js';
import { getJson, Platform, ServiceProcess } from '../test/e2e/platform.js';

// make bench: the PostgreSQL rows beside SQLite's, measured in the same run on the same machine.
// BENCH_SCALE=small shrinks every count for a look in under a minute.
const small = process.env.BENCH_SCALE === 'small';
const WRITES = small ? 1000 : 5000;
const BACKLOG = small ? 1000 : 5000;
const CLIENTS = 32;

const dropped: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(dropped.map((drop) => drop()));
});

/** A fresh database on the test server (TEST_DATABASE_URL's, or the run's throwaway one). */
async function freshDatabase(): Promise<string> {
  const made = await createTestDatabase();
  dropped.push(made.drop);
  return made.url;
}

const load = async (url: string, count: number, kind: 'customers' | 'packages', tag: string) =>
  (await runLoad(url, count, kind, tag, { clients: CLIENTS })).perSecond;

/** How many packages this middleware process asked the Inventory for, from its own metrics. */
async function asksOf(middleware: ServiceProcess): Promise<number> {
  const metrics = await (await fetch(`${middleware.url}/metrics`)).text();
  return [...metrics.matchAll(/^middleware_inventory_asks_total\{[^}]*\} (\d+)/gm)].reduce(
    (sum, match) => sum + Number(match[1]),
    0,
  );
}

/** The upstreams' write rates on `databaseUrl` (PostgreSQL) or their SQLite files. */
async function writeRates(databaseUrl?: string): Promise<{ crm: number; inventory: number }> {
  const platform = await new Platform({ logLevel: 'warn', ...(databaseUrl ? { databaseUrl } : {}) }).start({
    middleware: false,
  });
  try {
    return {
      crm: await load(`${platform.crm.url}/customers`, WRITES, 'customers', 'w'),
      inventory: await load(`${platform.inventory.url}/packages`, WRITES, 'packages', 'w'),
    };
  } finally {
    await platform.close();
  }
}

/**
 * A backlog the middleware replicas find waiting: timed from the moment they all listen to the
 * shared cursor passing the last customer, with each replica's share of the asks.
 */
async function backlog(replicas: number, databaseUrl?: string): Promise<{ rate: number; shares: number[] }> {
  const platform = await new Platform({
    logLevel: 'warn',
    pollIntervalMs: 1000,
    ...(databaseUrl ? { databaseUrl } : {}),
  }).start({ middleware: false });
  const others = Array.from(
    { length: replicas - 1 },
    () => new ServiceProcess('middleware', { ...platform.middleware.env }),
  );
  try {
    await load(`${platform.crm.url}/customers`, BACKLOG, 'customers', 'b');
    const middlewares = [platform.middleware, ...others];
    await Promise.all(middlewares.map((middleware) => middleware.start()));
    const started = performance.now();
    await waitFor(
      'the backlog',
      async () => (await getJson(`${platform.middleware.url}/status`)).cursor >= BACKLOG,
      1_800_000,
    );
    const rate = BACKLOG / ((performance.now() - started) / 1000);
    const asks = await Promise.all(middlewares.map(asksOf));
    const total = asks.reduce((sum, n) => sum + n, 0);
    return { rate, shares: asks.map((n) => n / total) };
  } finally {
    await Promise.all(others.map((middleware) => middleware.kill()));
    await platform.close();
  }
}

test('PostgreSQL beside SQLite', async () => {
  const rows: Array<[string, string, string, string]> = [['', 'SQLite', 'PostgreSQL', '']];
  const sqliteWrites = await writeRates();
  const postgresWrites = await writeRates(await freshDatabase());
  const ratio = (postgres: number, sqlite: number) => `${(postgres / sqlite).toFixed(2)} of SQLite's`;
  rows.push([
    `CRM POST /customers, ${CLIENTS} clients`,
    `${sqliteWrites.crm.toFixed(0)}/s`,
    `${postgresWrites.crm.toFixed(0)}/s`,
    ratio(postgresWrites.crm, sqliteWrites.crm),
  ]);
  rows.push([
    `Inventory POST /packages, ${CLIENTS} clients`,
    `${sqliteWrites.inventory.toFixed(0)}/s`,
    `${postgresWrites.inventory.toFixed(0)}/s`,
    ratio(postgresWrites.inventory, sqliteWrites.inventory),
  ]);

  const sqliteBacklog = await backlog(1);
  const postgresBacklog = await backlog(1, await freshDatabase());
  rows.push([
    `Backlog of ${BACKLOG}, one middleware`,
    `${sqliteBacklog.rate.toFixed(0)}/s`,
    `${postgresBacklog.rate.toFixed(0)}/s`,
    `${ratio(postgresBacklog.rate, sqliteBacklog.rate)} (target ≥ 0.70)`,
  ]);
  const two = await backlog(2, await freshDatabase());
  const split = two.shares.map((share) => `${(share * 100).toFixed(0)} %`).join(' / ');
  rows.push([
    `Backlog of ${BACKLOG}, two middleware replicas`,
    '(one file, one process)',
    `${two.rate.toFixed(0)}/s`,
    `${(two.rate / postgresBacklog.rate).toFixed(2)} of one replica's (target ≥ 1); ` +
      `asks split ${split} (target: neither > 60 %)`,
  ]);

  const width = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => `  ${row.map((cell, i) => cell.padEnd(width[i]!)).join('  ')}`;
  process.stdout.write(
    `\nbench, PostgreSQL beside SQLite (${new Date().toISOString()}${small ? ', BENCH_SCALE=small' : ''}):\n` +
      `${rows.map(line).join('\n')}\n`,
  );
}, 3_600_000);
