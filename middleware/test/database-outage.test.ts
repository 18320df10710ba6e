import { afterEach, describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { connectPostgres } from '@welcome/common';
import { createApp } from '../src/app.js';
import { startHeartbeat } from '../src/domain/heartbeat.js';
import { startPoller } from '../src/domain/poller.js';
import { syncNewCustomers } from '../src/domain/sync.js';
import { wireMiddleware } from '../src/wiring.js';
import { captureLogs } from '../../test/support/logs.js';
import { waitFor } from '../../test/support/servers.js';
import { switchablePath, type SwitchablePath } from '../../test/support/switchable-path.js';
import { closedAfterEach, countingInventory, createCustomer, middlewareDatabases, signedEvent } from './support.js';

const { upstreams, server } = closedAfterEach();
const secret = `whsec_${Buffer.alloc(24, 6).toString('base64')}`;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

/** A path to the test server that the test can cut and restore, closed after the test. */
async function switchableDatabase(url: string): Promise<SwitchablePath> {
  const path = await switchablePath(url);
  cleanups.push(() => path.close());
  return path;
}

describe('the middleware on PostgreSQL, while its database cannot be reached', () => {
  test(
    'answers 503 with Retry-After, stops its cycles without calling it an outage of an upstream, ' +
      'crashes nothing, and resumes by itself',
    async () => {
      const { crm, inventory } = await upstreams();
      const counted = await server(countingInventory(inventory.url));
      const schema = middlewareDatabases.newSchema();
      await middlewareDatabases.postgres(schema);
      const database = await switchableDatabase(await middlewareDatabases.url());
      const { logger, lines } = captureLogs('middleware');
      const pg = connectPostgres({ url: database.url, poolSize: 4, schema, logger });
      cleanups.push(() => pg.close());
      const deps = wireMiddleware({
        database: { kind: 'postgres', pg },
        logger,
        crmUrl: crm.url,
        inventoryUrl: counted.url,
        timeoutMs: 2000,
        retryDelayMs: 10,
        webhookSecret: secret,
      });
      const http = request(createApp(deps).callback());
      const unhandled: unknown[] = [];
      const noteUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', noteUnhandled);
      cleanups.push(async () => void process.off('unhandledRejection', noteUnhandled));
      const alice = await createCustomer(crm.url, 'Alice');

      database.cut();
      const heartbeat = startHeartbeat(deps.heartbeat, 50);
      const poller = startPoller({
        intervalMs: 20,
        maxBackoffMs: 200,
        logger,
        cycle: (stop, signal) => syncNewCustomers(deps.polling, stop, signal),
      });
      cleanups.push(async () => {
        await poller.stop();
        await heartbeat.stop();
      });
      for (const path of ['/status', '/dead-letters']) {
        const response = await http.get(path);
        expect({ path, status: response.status, retryAfter: response.headers['retry-after'] }).toEqual({
          path,
          status: 503,
          retryAfter: '5',
        });
        expect(response.body).toMatchObject({ type: '/problems/database-unavailable', status: 503 });
      }
      const event = signedEvent(secret, alice);
      const pushed = await http.post('/webhooks/crm').set(event.headers).send(event.body);
      expect(pushed.status).toBe(503);
      expect(pushed.headers['retry-after']).toBe('5');
      expect((await http.get('/metrics')).status).toBe(200);
      expect(await syncNewCustomers(deps.polling)).toMatchObject({
        found: 0,
        failure: expect.stringMatching(/database/),
      });
      await waitFor(
        'a few heartbeats to fail',
        () => lines.filter((line) => /heartbeat/.test(line.message)).length > 0,
      );
      expect(counted.requests).toEqual([]);

      database.restore();
      await waitFor(
        'Alice delivered once the database is back',
        async () => (await http.get('/status')).body.cursor === alice.id,
      );
      await waitFor('the heartbeat written again', async () => (await http.get('/status')).body.replicas.length === 1);
      expect((await http.post('/webhooks/crm').set(event.headers).send(event.body)).body).toMatchObject({
        customerId: alice.id,
        repeat: true,
      });
      expect((await http.get('/status')).body).toMatchObject({
        created: 1,
        failedCycles: 0,
        outage: null,
        lastError: null,
      });
      expect(counted.requests).toEqual([alice.id]);

      const said = lines.filter(
        (line) => line.level === 'error' || line.level === 'warn' || /answers again|written again/.test(line.message),
      );
      expect(said.filter((line) => /heartbeat/.test(line.message)).map((line) => line.level)).toEqual(['warn', 'info']);
      expect(
        said.filter((line) => /cannot be reached|answers again/.test(line.message)).map((line) => line.level),
      ).toEqual(['error', 'info']);
      expect(lines.filter((line) => /^Sync cycle failed unexpectedly|Outage began/.test(line.message))).toEqual([]);
      expect(unhandled).toEqual([]);
    },
  );
});
