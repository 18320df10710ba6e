import { statSync } from 'node:fs';
import { test } from '@jest/globals';
import { deliverBacklog } from './measure.js';
import { Platform, postJson, type ServiceName } from '../test/e2e/platform.js';

// make bench: the size of each service's database and write-ahead log after many customers
// (BENCH_WAL_CUSTOMERS, 100,000 by default), posted by 32 clients and then carried by the middleware.
const customers = Number(process.env.BENCH_WAL_CUSTOMERS ?? 100_000);
const clients = 32;

const mib = (bytes: number) =>
  bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const sizeOf = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

test(`database and write-ahead log sizes after ${customers} customers`, async () => {
  const platform = await new Platform({ pollIntervalMs: 100 }).start({ middleware: false });
  const lines: string[] = [];
  try {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = (next += 1); i <= customers; i = next += 1) {
          const response = await postJson(`${platform.crm.url}/customers`, {
            name: `Wal ${i}`,
            email: `wal-${i}@example.com`,
          });
          if (response.status !== 201) throw new Error(`CRM answered ${response.status}`);
        }
      }),
    );
    const postSeconds = (performance.now() - started) / 1000;
    const { seconds: deliverSeconds } = await deliverBacklog(platform, customers);
    lines.push(
      `${customers} customers posted by ${clients} clients in ${postSeconds.toFixed(1)} s; ` +
        `delivered from a backlog in ${deliverSeconds.toFixed(1)} s`,
    );
    for (const service of ['crm', 'inventory', 'middleware'] as ServiceName[]) {
      const db = platform[service].env.DB_PATH!;
      lines.push(`${service.padEnd(10)} database ${mib(sizeOf(db))}, write-ahead log ${mib(sizeOf(`${db}-wal`))}`);
    }
  } finally {
    await platform.close();
  }
  process.stdout.write(
    `\nbench, storage (${new Date().toISOString()}):\n${lines.map((line) => `  ${line}`).join('\n')}\n`,
  );
}, 3_600_000);
