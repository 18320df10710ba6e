import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { createLogger } from '@welcome/common';
import { createApp as createCrm } from '../crm/src/app.js';
import { crmSchema } from '../crm/src/store/schema.js';
import { startPoller } from '../middleware/src/domain/poller.js';
import { logIdleSummary } from '../middleware/src/domain/status.js';
import { syncNewCustomers, type CycleReport } from '../middleware/src/domain/sync.js';
import { closedAfterEach, createCustomer, middlewareDeps } from '../middleware/test/support.js';
import { captureLogs, type LogLine } from './support/logs.js';
import { waitFor } from './support/servers.js';
import { sqliteAt } from './support/databases.js';

const { upstreams } = closedAfterEach();
const atInfoOrAbove = (lines: LogLine[]) => lines.filter((line) => line.level !== 'debug');

describe('an idle platform is quiet; its story is not', () => {
  test('successful reads and probes log at debug; writes and every refusal at info', async () => {
    const { logger, lines } = captureLogs('crm');
    const http = request(createCrm({ database: sqliteAt(crmSchema), logger }).callback());
    for (const path of ['/customers?after=0', '/health', '/ready', '/metrics'])
      expect((await http.get(path)).status).toBe(200);
    expect((await http.head('/customers')).status).toBe(200);
    expect(atInfoOrAbove(lines)).toEqual([]);
    expect(lines.filter((line) => line.method === 'GET' || line.method === 'HEAD')).toHaveLength(5);

    await http
      .post('/customers')
      .set('Content-Type', 'application/json')
      .send({ name: 'Alice', email: 'alice@example.com' });
    await http.get('/customers/99');
    await http.get('/customers?limit=0');
    await http.delete('/customers');
    expect(atInfoOrAbove(lines).map((line) => [line.method, line.status, line.level])).toEqual([
      ['POST', 201, 'info'],
      ['GET', 404, 'info'],
      ['GET', 400, 'info'],
      ['DELETE', 405, 'info'],
    ]);
  });

  test('a sync cycle that finds nothing says nothing at info; one that finds a customer tells it', async () => {
    const { crm, inventory } = await upstreams();
    const { logger, lines } = captureLogs('middleware');
    const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: inventory.url, logger });
    await syncNewCustomers(deps.polling);
    await syncNewCustomers(deps.polling);
    expect(atInfoOrAbove(lines)).toEqual([]);

    await createCustomer(crm.url, 'Alice');
    await syncNewCustomers(deps.polling);
    expect(atInfoOrAbove(lines).map((line) => line.message)).toEqual([
      'Found 1 new customer(s) after cursor 0',
      'Welcome package 1 created for customer 1',
      'Sync cycle done: cursor now 1',
    ]);
  });

  test('while idle, the poller says where it stands once a minute, not once a cycle', async () => {
    const { crm, inventory } = await upstreams();
    const { logger, lines } = captureLogs('middleware');
    const deps = await middlewareDeps({ crmUrl: crm.url, inventoryUrl: inventory.url, logger });
    let now = 0;
    let cycles = 0;
    const idle: CycleReport = { found: 0, created: 0, alreadyThere: 0, deadLettered: 0 };
    const poller = startPoller({
      intervalMs: 1,
      maxBackoffMs: 10,
      logger,
      clock: () => now,
      idleSummary: {
        everyMs: 60_000,
        log: () => logIdleSummary({ status: deps.stores.status, logger: deps.logger, now: deps.now }),
      },
      cycle: async () => {
        cycles += 1;
        // Each of the first 36 cycles, five seconds of a clock the test runs: three minutes in all.
        if (cycles <= 36) now += 5_000;
        return idle;
      },
    });
    await waitFor('36 cycles, three minutes of the clock', () => cycles >= 36);
    await poller.stop();
    const summaries = atInfoOrAbove(lines);
    expect(summaries).toHaveLength(3);
    expect(summaries[0]).toMatchObject({
      level: 'info',
      message: 'idle: cursor 0, lag 0, last success never',
      cursor: 0,
      lag: 0,
    });
  });
});

describe('under make run', () => {
  test('each line names its service once: the log line does, concurrently adds no label of its own', () => {
    const written: string[] = [];
    const stream = new Writable({
      write: (chunk: Buffer, _encoding, done) => done(void written.push(chunk.toString())),
    });
    createLogger({ service: 'crm', format: 'pretty', stream }).info('Listening on http://0.0.0.0:3001');
    expect(written.join('').match(/crm/g)).toHaveLength(1);

    const start = (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }
    ).scripts.start;
    expect(start).toMatch(/^concurrently .*--prefix none /);
  });
});
