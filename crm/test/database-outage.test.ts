import { afterEach, describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { connectPostgres, createSilentLogger, type Logger } from '@welcome/common';
import { createCrm, type CrmDeps } from '../src/app.js';
import { crmSchema } from '../src/store/schema.js';
import { captureLogs } from '../../test/support/logs.js';
import { serveHandler, waitFor } from '../../test/support/servers.js';
import { closedPort, switchablePath, type SwitchablePath } from '../../test/support/switchable-path.js';
import { testDatabases } from '../../test/support/databases.js';

const databases = testDatabases('crm', crmSchema);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Http = ReturnType<typeof request>;

/** A path to the test server that the test can cut and restore, closed after the test. */
async function switchableDatabase(url: string): Promise<SwitchablePath> {
  const path = await switchablePath(url);
  cleanups.push(() => path.close());
  return path;
}

/** A started CRM on `url` (schema `schema`, already migrated), as index.ts would run it. */
async function crmOn(url: string, schema: string, logger: Logger, overrides: Partial<CrmDeps> = {}): Promise<Http> {
  const pg = connectPostgres({ url, poolSize: 4, schema, logger });
  const parts = createCrm({ database: { kind: 'postgres', pg }, logger, webhookTimeoutMs: 1000, ...overrides });
  cleanups.push(async () => {
    await parts.stop();
    await pg.close();
  });
  await parts.start();
  return request(parts.app.callback());
}

const postJson = (http: Http, path: string, body: unknown) =>
  http.post(path).set('Content-Type', 'application/json').send(JSON.stringify(body));

function expectUnavailable(response: request.Response): void {
  expect(response.status).toBe(503);
  expect(response.headers['retry-after']).toBe('5');
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ type: '/problems/database-unavailable', status: 503 });
}

describe('the CRM on PostgreSQL, while its database cannot be reached', () => {
  test('a CRM whose database is not there answers reads and writes 503 with Retry-After, and /ready 503', async () => {
    const url = new URL(await databases.url());
    url.port = String(await closedPort());
    const http = await crmOn(url.toString(), databases.newSchema(), createSilentLogger());
    expectUnavailable(await postJson(http, '/customers', { name: 'Alice', email: 'alice@example.com' }));
    expectUnavailable(await http.get('/customers'));
    expectUnavailable(await http.get('/customers?after=0&wait=5'));
    expectUnavailable(await http.get('/customers/1'));
    expectUnavailable(await postJson(http, '/webhook-endpoints', { url: 'http://localhost:9/hook' }));
    expectUnavailable(await http.get('/webhook-endpoints/1/messages'));
    const ready = await http.get('/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.errors).toEqual([{ field: 'database', message: expect.stringMatching(/cannot be reached/) }]);
    // Metrics stay readable: only the series that need the database are left out.
    const metrics = await http.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).not.toMatch(/^crm_webhook_messages\{/m);
  });

  test(
    'answers 503 while the server is away, ' + 'its dispatcher says so once, and all of it comes back by itself',
    async () => {
      const schema = databases.newSchema();
      const direct = await databases.postgres(schema);
      const listening = async () => {
        const listeners = await direct.query(
          'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1',
          [`LISTEN ${direct.channel('customers')}`],
        );
        return listeners.length;
      };
      const path = await switchableDatabase(await databases.url());
      const received: string[] = [];
      let answer = 500;
      const target = await serveHandler((req, res) => {
        received.push(String(req.headers['webhook-id']));
        res.writeHead(answer);
        res.end();
      });
      cleanups.push(target.close);
      const { logger, lines } = captureLogs('crm');
      // The first attempt fails; the second falls due while the database is away.
      const http = await crmOn(path.url, schema, logger, { webhookRetryScheduleMs: [1500], feedRecheckMs: null });
      const endpoint = (await postJson(http, '/webhook-endpoints', { url: target.url })).body;
      const alice = await postJson(http, '/customers', { name: 'Alice', email: 'alice@example.com' });
      expect(alice.status).toBe(201);
      const messages = `/webhook-endpoints/${endpoint.id}/messages`;
      await waitFor('the first attempt', async () => (await http.get(messages)).body[0]?.attempts === 1);

      path.cut();
      answer = 204;
      expectUnavailable(await postJson(http, '/customers', { name: 'Bob', email: 'bob@example.com' }));
      expectUnavailable(await http.get('/customers'));
      expect((await http.get('/ready')).status).toBe(503);
      await waitFor('the dispatcher to find its outbox out of reach', () =>
        lines.some((line) => /webhook dispatcher cannot read its outbox/.test(line.message)),
      );

      path.restore();
      await waitFor('the database to answer again', async () => (await http.get('/ready')).status === 200);
      const bob = await postJson(http, '/customers', { name: 'Bob', email: 'bob@example.com' });
      expect(bob.status).toBe(201);
      await waitFor('both messages delivered', async () => {
        const listed = (await http.get(messages)).body as Array<{ status: string }>;
        return listed.length === 2 && listed.every((message) => message.status === 'delivered');
      });
      expect(received.sort()).toEqual(['msg_1', 'msg_1', 'msg_2']);
      expect(lines.filter((line) => /webhook dispatcher cannot read its outbox/.test(line.message))).toHaveLength(1);

      // Its listening connection comes back too: a commit made elsewhere answers a poll held here.
      await waitFor('the replica to listen again', async () => (await listening()) === 1);
      const other = createCrm({ database: await databases.open('postgres', { schema }), logger: createSilentLogger() });
      const held = http.get(`/customers?after=${bob.body.id}&wait=25`).then((response) => response);
      await waitFor('the poll to be held', async () =>
        /crm_long_polls_held\{service="crm"\} 1/.test((await http.get('/metrics')).text),
      );
      const carol = await postJson(request(other.app.callback()), '/customers', {
        name: 'Carol',
        email: 'carol@example.com',
      });
      expect((await held).body).toEqual([carol.body]);
    },
  );
});
