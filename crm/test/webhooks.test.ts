import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { createSilentLogger } from '@welcome/common';
import { createCrm } from '../src/app.js';
import { createWebhookSender } from '../src/clients/webhook-sender.js';
import { startMessagePruner } from '../src/domain/message-retention.js';
import { customerCreatedEvent } from '../src/domain/webhooks.js';
import { createCrmStores } from '../src/store/stores.js';
import { MAX_BATCH_BYTES, type DueMessage } from '../src/store/webhooks/webhook-store.js';
import { serveHandler, waitFor } from '../../test/support/servers.js';
import { BACKENDS } from '../../test/support/databases.js';
import {
  databases,
  lastingData,
  newCustomer,
  postJson,
  running,
  startedCrm,
  subscriber,
  WELL_BEHAVED,
} from './support.js';

describe.each(BACKENDS)('the CRM on %s', (backend) => {
  describe('POST /webhook-endpoints', () => {
    test('subscribes a url: 201 with a whsec_ secret made for it, which later answers never show', async () => {
      const { http } = await startedCrm(backend);
      const created = await postJson(http, '/webhook-endpoints', { url: 'http://localhost:9/hook' });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe('/webhook-endpoints/1');
      expect(created.body).toEqual({
        id: 1,
        url: 'http://localhost:9/hook',
        secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{32}$/),
        batchSize: 1,
        createdAt: expect.any(String),
        ...WELL_BEHAVED,
      });
      expect(Buffer.from(created.body.secret.slice(6), 'base64')).toHaveLength(24);
      const { secret: _secret, ...shown } = created.body;
      expect((await http.get('/webhook-endpoints/1')).body).toEqual(shown);
      expect((await http.get('/webhook-endpoints')).body).toEqual([shown]);
    });

    test.each([
      ['not a url', 'not a url'],
      ['an ftp url', 'ftp://example.com/hook'],
      ['a relative url', '/relative/hook'],
      ['a url over 2048 characters', `http://example.com/${'a'.repeat(2048)}`],
    ])('refuses %s with a 400 naming the url', async (_, url) => {
      const { http } = await startedCrm(backend);
      const response = await postJson(http, '/webhook-endpoints', { url });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: 'url', message: expect.any(String) }]);
      expect((await http.get('/webhook-endpoints')).body).toEqual([]);
    });

    test('refuses a secret that is not whsec_ and base64 of 24 to 64 bytes, and any other field', async () => {
      const { http } = await startedCrm(backend);
      for (const body of [
        { url: 'http://localhost:9/a', secret: 'hunter2' },
        { url: 'http://localhost:9/a', secret: `whsec_${Buffer.alloc(8).toString('base64')}` },
        { url: 'http://localhost:9/a', id: 7 },
      ]) {
        expect((await postJson(http, '/webhook-endpoints', body)).status).toBe(400);
      }
    });

    test('keeps at most 100 endpoints: the 101st is a 409', async () => {
      const { http } = await startedCrm(backend);
      for (let i = 1; i <= 100; i++)
        expect((await postJson(http, '/webhook-endpoints', { url: `http://localhost:9/${i}` })).status).toBe(201);
      const refused = await postJson(http, '/webhook-endpoints', { url: 'http://localhost:9/101' });
      expect(refused.status).toBe(409);
      expect(refused.body.type).toBe('/problems/too-many-endpoints');
    });
  });

  describe('the outbox store', () => {
    /** A store with two messages due since `t0`, for one endpoint. */
    async function outboxOfTwo() {
      const database = await databases.open(backend);
      const { webhooks, customers } = createCrmStores(database);
      await webhooks.createEndpoint(
        {
          url: 'http://localhost:9/hook',
          secret: 'whsec_c2VjcmV0',
          batchSize: 1,
          createdAt: '2026-01-01T00:00:00.000Z',
        },
        100,
      );
      for (const name of ['Alice', 'Bob']) {
        await customers.insert(
          {
            name,
            email: `${name.toLowerCase()}@example.com`,
            createdAt: '2026-01-01T00:00:00.000Z',
          },
          customerCreatedEvent,
        );
      }
      return { database, webhooks };
    }
    const t = (seconds: number) => new Date(Date.parse('2026-01-01T00:00:00.000Z') + seconds * 1000).toISOString();

    test(
      "a claimed message is nobody else's until its lease ends or its attempt is recorded; " +
        'nextDueAt says when the next can be claimed',
      async () => {
        const { webhooks } = await outboxOfTwo();
        expect((await webhooks.claimDue(t(1), 1, t(60))).flat().map((message) => message.id)).toEqual([1]);
        expect((await webhooks.claimDue(t(2), 10, t(30))).flat().map((message) => message.id)).toEqual([2]);
        expect(await webhooks.claimDue(t(3), 10, t(90))).toEqual([]);
        expect(await webhooks.nextDueAt()).toBe(t(30));

        await webhooks.recordAttempt(1, { at: t(4), status: 500, error: 'answered 500', outcome: { retryAt: t(10) } });
        expect(await webhooks.nextDueAt()).toBe(t(10));
        expect((await webhooks.claimDue(t(10), 10, t(70))).flat().map((message) => message.id)).toEqual([1]);
        // Message 2's lease ended without an attempt recorded (its sender died): it is claimable again.
        expect((await webhooks.claimDue(t(31), 10, t(91))).flat().map((message) => message.id)).toEqual([2]);
        await webhooks.recordAttempt(2, { at: t(32), status: 204, error: null, outcome: 'delivered' });
        expect(await webhooks.nextDueAt()).toBe(t(70));
      },
    );

    test(
      'an endpoint with a batch size above 1 has its due messages claimed together, ' + 'up to that many a request',
      async () => {
        const database = await databases.open(backend);
        const { webhooks, customers } = createCrmStores(database);
        const createdAt = t(0);
        await webhooks.createEndpoint(
          { url: 'http://localhost:9/batched', secret: 'whsec_c2VjcmV0', batchSize: 3, createdAt },
          100,
        );
        await webhooks.createEndpoint(
          { url: 'http://localhost:9/single', secret: 'whsec_c2VjcmV0', batchSize: 1, createdAt },
          100,
        );
        for (const name of ['A', 'B', 'C', 'D', 'E'])
          await customers.insert({ name, email: `${name.toLowerCase()}@example.com`, createdAt }, customerCreatedEvent);
        // Messages 1, 3, 5, 7, 9 are the batched endpoint's; 2, 4, 6, 8, 10 the other's.
        const ids = (batches: Array<Array<{ id: number }>>) =>
          batches.map((batch) => batch.map((message) => message.id));
        expect(ids(await webhooks.claimDue(t(1), 3, t(60)))).toEqual([[1, 3, 5], [2], [4]]);
        expect(ids(await webhooks.claimDue(t(1), 10, t(60)))).toEqual([[6], [7, 9], [8], [10]]);
        expect(await webhooks.claimDue(t(1), 10, t(60))).toEqual([]);
      },
    );

    test('a batch stays under 60 KiB of payloads, so that a receiver taking 64 KiB bodies takes it', async () => {
      const database = await databases.open(backend);
      const { webhooks, customers } = createCrmStores(database);
      await webhooks.createEndpoint(
        { url: 'http://localhost:9/batched', secret: 'whsec_c2VjcmV0', batchSize: 100, createdAt: t(0) },
        100,
      );
      // Names of 200 characters, the most the CRM takes, of 4 bytes each: about 1 KB of payload a message.
      for (let i = 0; i < 150; i++)
        await customers.insert(
          {
            name: `${'\u{1F600}'.repeat(196)}${String(i).padStart(4, '0')}`,
            email: `n${i}@example.com`,
            createdAt: t(0),
          },
          customerCreatedEvent,
        );
      const [first, second] = await webhooks.claimDue(t(1), 2, t(60));
      const bytes = (batch: DueMessage[]) =>
        batch.reduce((sum, message) => sum + Buffer.byteLength(message.payload), 0);
      expect(first!.length).toBeLessThan(150);
      expect(bytes(first!)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      expect(bytes(first!) + Buffer.byteLength(second![0]!.payload)).toBeGreaterThan(MAX_BATCH_BYTES);
      expect(first!.length + second!.length).toBe(Math.min(150, 2 * first!.length));
    });

    test(
      'the message log keeps delivered and failed messages ' +
        'WEBHOOK_RETENTION_DAYS after their last attempt, pending ones always',
      async () => {
        const database = await databases.open(backend);
        const { webhooks, customers } = createCrmStores(database);
        const daysAgo = (days: number) => t(-days * 24 * 60 * 60);
        const endpoint = (await webhooks.createEndpoint(
          { url: 'http://localhost:9/hook', secret: 'whsec_c2VjcmV0', batchSize: 1, createdAt: daysAgo(50) },
          100,
        ))!;
        for (const name of ['A', 'B', 'C', 'D'])
          await customers.insert(
            { name, email: `${name.toLowerCase()}@example.com`, createdAt: daysAgo(45) },
            customerCreatedEvent,
          );
        expect(await webhooks.claimDue(daysAgo(44), 4, daysAgo(43))).toHaveLength(4);
        await webhooks.recordAttempt(1, { at: daysAgo(40), status: 204, error: null, outcome: 'delivered' });
        await webhooks.recordAttempt(2, {
          at: daysAgo(40),
          status: 500,
          error: 'answered 500',
          outcome: { retryAt: null },
        });
        await webhooks.recordAttempt(3, { at: daysAgo(10), status: 204, error: null, outcome: 'delivered' });
        await webhooks.recordAttempt(4, {
          at: daysAgo(40),
          status: 500,
          error: 'answered 500',
          outcome: { retryAt: daysAgo(1) },
        });

        const pruner = startMessagePruner({
          webhooks,
          retentionDays: 30,
          logger: createSilentLogger(),
          now: () => new Date(t(0)),
        });
        await waitFor(
          'the old messages pruned',
          async () => (await webhooks.listMessages(endpoint.id, 0, 10)).length === 2,
        );
        await pruner.stop();
        expect(
          (await webhooks.listMessages(endpoint.id, 0, 10)).map((message) => [message.id, message.status]),
        ).toEqual([
          [3, 'delivered'],
          [4, 'pending'],
        ]);
        expect(await webhooks.pruneMessages(daysAgo(30), 10)).toBe(0);
      },
    );

    if (backend === 'sqlite') {
      test(
        'on SQLite, one process owns the file: a claim writes nothing, ' +
          'and recording attempts leaves every other commit waiting for the disk',
        async () => {
          const { database, webhooks } = await outboxOfTwo();
          const db = (database as { db: import('@welcome/common').Db }).db;
          const changes = () => (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
          const before = changes();
          expect(await webhooks.claimDue(t(1), 10, t(60))).toHaveLength(2);
          expect(changes()).toBe(before);
          await webhooks.recordAttempt(1, { at: t(2), status: 204, error: null, outcome: 'delivered' });
          expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
        },
      );
    }
  });

  describe('webhook delivery', () => {
    test(
      'each customer committed after the endpoint was made is sent once, ' +
        'signed with its secret (Standard Webhooks)',
      async () => {
        const target = await subscriber();
        const { http } = await startedCrm(backend);
        await newCustomer(http, 'Before');
        const endpoint = (await postJson(http, '/webhook-endpoints', { url: `${target.url}/hook` })).body;
        const alice = (await newCustomer(http, 'Alice')).body;

        await waitFor(
          'the delivery',
          async () => (await http.get(`/webhook-endpoints/${endpoint.id}/messages`)).body[0]?.status === 'delivered',
        );
        expect(target.received).toHaveLength(1);
        const [sent] = target.received;
        expect(sent!.headers).toMatchObject({ 'content-type': 'application/json', 'webhook-id': 'msg_1' });
        const event = new Webhook(endpoint.secret).verify(sent!.body, sent!.headers) as {
          type: string;
          timestamp: string;
          data: unknown;
        };
        expect(event).toEqual({ type: 'customer.created', timestamp: alice.createdAt, data: alice });
        expect((await http.get(`/webhook-endpoints/${endpoint.id}/messages`)).body).toEqual([
          {
            id: 1,
            eventType: 'customer.created',
            customerId: alice.id,
            status: 'delivered',
            attempts: 1,
            lastAttemptAt: expect.any(String),
            lastStatus: 204,
            lastError: null,
            nextAttemptAt: null,
          },
        ]);
        const metrics = (await http.get('/metrics')).text;
        expect(metrics).toMatch(/^crm_webhook_attempts_total\{result="delivered",service="crm"\} 1$/m);
        expect(metrics).toMatch(/^crm_webhook_messages\{status="delivered",service="crm"\} 1$/m);
        expect(metrics).toMatch(/^crm_webhook_messages\{status="pending",service="crm"\} 0$/m);
      },
    );

    test(
      'an endpoint made with a batchSize gets its messages as JSON arrays of events, ' +
        'each with its id, signed; each is delivered',
      async () => {
        const target = await subscriber();
        const { http } = await startedCrm(backend);
        const endpoint = (await postJson(http, '/webhook-endpoints', { url: `${target.url}/batched`, batchSize: 3 }))
          .body;
        expect(endpoint).toMatchObject({ batchSize: 3 });
        expect((await http.get(`/webhook-endpoints/${endpoint.id}`)).body).toMatchObject({ batchSize: 3 });
        const made = await Promise.all(
          ['A', 'B', 'C', 'D', 'E'].map(async (name) => (await newCustomer(http, name)).body),
        );
        const messages = `/webhook-endpoints/${endpoint.id}/messages`;
        await waitFor(
          'all five delivered',
          async () =>
            (await http.get(messages)).body.filter((m: { status: string }) => m.status === 'delivered').length === 5,
        );

        const events = target.received.flatMap((sent) => {
          const body = new Webhook(endpoint.secret).verify(sent.body, sent.headers);
          expect(Array.isArray(body)).toBe(true);
          expect((body as unknown[]).length).toBeLessThanOrEqual(3);
          return body as Array<{ id: string; type: string; data: { id: number } }>;
        });
        expect(events.map((event) => event.data.id).sort((a, b) => a - b)).toEqual(
          made.map((customer) => customer.id).sort((a, b) => a - b),
        );
        const byCustomer = new Map(
          (await http.get(messages)).body.map((m: { id: number; customerId: number }) => [m.customerId, m.id]),
        );
        for (const event of events)
          expect(event).toMatchObject({ id: `msg_${byCustomer.get(event.data.id)}`, type: 'customer.created' });
        expect(target.received.every((sent) => sent.headers['webhook-id']!.startsWith('batch_'))).toBe(true);
      },
    );

    test.each([0, 101, 2.5, '3'])('a batchSize of %p is a 400, and no endpoint is made', async (batchSize) => {
      const { http } = await startedCrm(backend);
      const refused = await postJson(http, '/webhook-endpoints', { url: 'http://localhost:9/hook', batchSize });
      expect(refused.status).toBe(400);
      expect(refused.body.errors).toEqual([expect.objectContaining({ field: 'batchSize' })]);
      expect((await http.get('/webhook-endpoints')).body).toEqual([]);
    });

    test('the 201 never waits for a subscriber: a hanging one does not hold it', async () => {
      const target = await subscriber(() => 0);
      const { http } = await startedCrm(backend, { webhookTimeoutMs: 5000 });
      await postJson(http, '/webhook-endpoints', { url: target.url });
      expect((await newCustomer(http, 'Alice')).status).toBe(201);
      expect((await newCustomer(http, 'Bob')).status).toBe(201);
      await waitFor('both sent', () => target.received.length === 2);
    });

    test(
      'a failing subscriber is retried on the schedule, ' + 'then the message is failed; a retry sends it again',
      async () => {
        let answer = 500;
        const target = await subscriber(() => answer);
        const { http } = await startedCrm(backend);
        const endpoint = (await postJson(http, '/webhook-endpoints', { url: target.url })).body;
        await newCustomer(http, 'Alice');
        const messages = `/webhook-endpoints/${endpoint.id}/messages`;
        await waitFor('the schedule to be spent', async () => (await http.get(messages)).body[0]?.status === 'failed');
        expect((await http.get(messages)).body[0]).toMatchObject({
          attempts: 3,
          lastStatus: 500,
          lastError: 'answered 500',
          nextAttemptAt: null,
        });
        expect(target.received.map((r) => r.headers['webhook-id'])).toEqual(['msg_1', 'msg_1', 'msg_1']);

        answer = 200;
        const retried = await http.post(`${messages}/1/retry`);
        expect(retried.status).toBe(202);
        await waitFor('the retry', async () => (await http.get(messages)).body[0]?.status === 'delivered');
        expect((await http.post(`${messages}/1/retry`)).status).toBe(409);
      },
    );

    test('an attempt that outlasts the timeout counts as failed, with the reason', async () => {
      const target = await subscriber(() => 0);
      const { http } = await startedCrm(backend, { webhookRetryScheduleMs: [60_000] });
      const endpoint = (await postJson(http, '/webhook-endpoints', { url: target.url })).body;
      await newCustomer(http, 'Alice');
      const messages = `/webhook-endpoints/${endpoint.id}/messages`;
      await waitFor('the first attempt to end', async () => (await http.get(messages)).body[0]?.attempts === 1);
      expect((await http.get(messages)).body[0]).toMatchObject({
        status: 'pending',
        lastStatus: null,
        lastError: expect.stringMatching(/ETIMEDOUT|Timeout/),
        nextAttemptAt: expect.any(String),
      });
    });

    test('messages pending when the CRM stopped are sent when it starts again', async () => {
      const target = await subscriber();
      const data = lastingData(backend);
      const first = createCrm({ database: await databases.open(backend, data), logger: createSilentLogger() });
      const http = request(first.app.callback());
      await postJson(http, '/webhook-endpoints', { url: target.url });
      await newCustomer(http, 'Alice');
      expect(target.received).toHaveLength(0);

      const { http: again } = await startedCrm(backend, { database: await databases.open(backend, data) });
      await waitFor('the pending message', () => target.received.length === 1);
      await waitFor(
        'its log',
        async () => (await again.get('/webhook-endpoints/1/messages')).body[0]?.status === 'delivered',
      );
    });

    test('deleting an endpoint drops it and its messages', async () => {
      const { http } = await startedCrm(backend);
      await postJson(http, '/webhook-endpoints', { url: 'http://127.0.0.1:9/closed' });
      await newCustomer(http, 'Alice');
      expect((await http.delete('/webhook-endpoints/1')).status).toBe(204);
      expect((await http.get('/webhook-endpoints/1')).status).toBe(404);
      expect((await http.get('/webhook-endpoints/1/messages')).status).toBe(404);
      expect((await http.delete('/webhook-endpoints/1')).status).toBe(404);
    });

    test('WEBHOOK_URL and WEBHOOK_SECRET: the endpoint is made at the first start and found at the next', async () => {
      const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
      const data = lastingData(backend);
      const webhook = { url: 'http://localhost:3003/webhooks/crm', secret };
      await startedCrm(backend, { database: await databases.open(backend, data), webhook });
      const { http } = await startedCrm(backend, { database: await databases.open(backend, data), webhook });
      expect((await http.get('/webhook-endpoints')).body).toEqual([
        { id: 1, url: webhook.url, batchSize: 1, createdAt: expect.any(String), ...WELL_BEHAVED },
      ]);
      // WEBHOOK_BATCH_SIZE changed between two starts: the same endpoint, with the new batch size.
      const again = await startedCrm(backend, {
        database: await databases.open(backend, data),
        webhook: { ...webhook, batchSize: 50 },
      });
      expect((await again.http.get('/webhook-endpoints')).body).toEqual([
        { id: 1, url: webhook.url, batchSize: 50, createdAt: expect.any(String), ...WELL_BEHAVED },
      ]);
    });
  });

  describe('webhook urls are never a way into the network (server-side request forgery)', () => {
    test.each([
      ['credentials in it', 'http://user:secret@example.com/hook', /credentials/],
      [
        'the cloud metadata service',
        'http://169.254.169.254/latest/meta-data/',
        /link-local address \(169\.254\.169\.254\)/,
      ],
      ['the metadata service written as a number', 'http://2852039166/', /link-local/],
      ['an IPv6 link-local host', 'http://[fe80::1]:8080/hook', /link-local/],
      ['the metadata service as IPv4-mapped IPv6', 'http://[::ffff:169.254.169.254]/', /link-local/],
    ])('a url with %s is refused at creation with a 400, and nothing is stored', async (_, url, message) => {
      const { http } = await startedCrm(backend);
      const response = await postJson(http, '/webhook-endpoints', { url });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: 'url', message: expect.stringMatching(message) }]);
      expect((await http.get('/webhook-endpoints')).body).toEqual([]);
    });
  });

  describe('GET /customers?wait= (long polling)', () => {
    test(
      'holds at most MAX_HELD_POLLS: one more is answered 503 with Retry-After at once, ' +
        'and those held still get their customer',
      async () => {
        const { http } = await startedCrm(backend, { maxHeldPolls: 2 });
        const held = [http.get('/customers?after=0&wait=10'), http.get('/customers?after=0&wait=10')];
        const answers = Promise.all(held);
        await waitFor('two polls held', async () =>
          /crm_long_polls_held\{service="crm"\} 2/.test((await http.get('/metrics')).text),
        );
        const refused = await http.get('/customers?after=0&wait=10');
        expect(refused.status).toBe(503);
        expect(refused.headers['retry-after']).toBe('5');
        expect(refused.body).toMatchObject({ type: '/problems/too-many-long-polls', status: 503 });
        // A plain read is not a held poll: it is still answered.
        expect((await http.get('/customers?after=0')).status).toBe(200);
        const alice = (await newCustomer(http, 'Alice')).body;
        expect((await answers).map((response) => response.body)).toEqual([[alice], [alice]]);
      },
    );

    test('is answered the moment a customer is committed', async () => {
      const { http } = await startedCrm(backend);
      let answered = false;
      const held = http.get('/customers?after=0&wait=10').then((response) => {
        answered = true;
        return response;
      });
      await waitFor('the poll to be held', async () =>
        /crm_long_polls_held\{service="crm"\} 1/.test((await http.get('/metrics')).text),
      );
      expect(answered).toBe(false);
      const alice = (await newCustomer(http, 'Alice')).body;
      expect((await held).body).toEqual([alice]);
    });

    test('answers at once when customers are there, and with an empty page when the wait runs out', async () => {
      const { http } = await startedCrm(backend);
      const alice = (await newCustomer(http, 'Alice')).body;
      expect((await http.get('/customers?after=0&wait=30')).body).toEqual([alice]);
      const started = Date.now();
      expect((await http.get(`/customers?after=${alice.id}&wait=1`)).body).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    });

    test.each(['31', '-1', '1.5', 'soon'])('refuses wait=%s with a 400', async (wait) => {
      const { http } = await startedCrm(backend);
      const response = await http.get(`/customers?wait=${wait}`);
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: 'wait', message: 'must be a whole number from 0 to 30' }]);
    });

    test('many held polls wait on nothing but the commit, and shutdown answers them all at once', async () => {
      const { parts, http } = await startedCrm(backend);
      const held = Array.from({ length: 200 }, () => http.get('/customers?after=0&wait=30'));
      const listening = Promise.all(held);
      await waitFor('200 held polls', async () =>
        /crm_long_polls_held\{service="crm"\} 200/.test((await http.get('/metrics')).text),
      );
      const stopped = Date.now();
      await parts.stop?.();
      const answers = await listening;
      expect(Date.now() - stopped).toBeLessThan(5000);
      expect(answers.every((response) => response.status === 200 && response.body.length === 0)).toBe(true);
    });
  });
});

describe('the webhook sender: no way into the network, connections kept open', () => {
  /** One message, as the dispatcher hands it to the sender. */
  const message = (url: string): DueMessage[] => [
    {
      id: 1,
      attempts: 0,
      endpoint: {
        id: 1,
        url,
        secret: `whsec_${Buffer.alloc(24, 9).toString('base64')}`,
        batchSize: 1,
        failingSince: null,
      },
      payload: '{"type":"customer.created"}',
    },
  ];

  test('a name that resolves to a link-local address at send time is not called', async () => {
    const target = await subscriber();
    // The attacker's DNS answers the metadata service's address for a name of theirs.
    const resolve = ((
      _host: string,
      _options: unknown,
      callback: (e: null, a: Array<{ address: string; family: number }>) => void,
    ) => callback(null, [{ address: '169.254.169.254', family: 4 }])) as never;
    const send = createWebhookSender({ timeoutMs: 1000, resolve });
    const result = await send(message(`http://metadata.attacker.test:${new URL(target.url).port}/hook`), new Date());
    expect(result).toEqual({
      delivered: false,
      status: null,
      error: expect.stringMatching(/ELINKLOCAL: .*169\.254\.169\.254; not called/),
    });
    // The same sender calls a name that resolves elsewhere.
    const fine = createWebhookSender({
      timeoutMs: 1000,
      resolve: ((
        _host: string,
        _options: unknown,
        callback: (e: null, a: Array<{ address: string; family: number }>) => void,
      ) => callback(null, [{ address: '127.0.0.1', family: 4 }])) as never,
    });
    expect((await fine(message(`http://subscriber.test:${new URL(target.url).port}/hook`), new Date())).delivered).toBe(
      true,
    );
    expect(target.received).toHaveLength(1);
  });

  test('a redirect is not followed: it counts as a failed attempt', async () => {
    const elsewhere = await subscriber();
    const redirecting = await serveHandler((_req, res) => {
      res.writeHead(307, { Location: `${elsewhere.url}/hook` });
      res.end();
    });
    running.push({ stop: redirecting.close });
    const result = await createWebhookSender({ timeoutMs: 1000 })(message(`${redirecting.url}/hook`), new Date());
    expect(result).toEqual({ delivered: false, status: 307, error: 'answered 307' });
    expect(elsewhere.received).toHaveLength(0);
  });

  test(
    'messages to one subscriber share a kept-open connection, ' + 'whose answers’ bodies are read to their end',
    async () => {
      const connections = new Set<unknown>();
      const target = await serveHandler((req, res) => {
        connections.add(req.socket);
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('thanks '.repeat(1000));
      });
      running.push({ stop: target.close });
      const send = createWebhookSender({ timeoutMs: 5000, maxSockets: 4 });
      for (let i = 0; i < 5; i += 1) {
        expect(await send(message(`${target.url}/hook`), new Date())).toEqual({
          delivered: true,
          status: 200,
          error: null,
        });
        // The outcome is settled at the headers; the body is read just after, and the connection freed.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(connections.size).toBe(1);
    },
  );

  test(
    'an answer’s body is not waited for: ' +
      'a subscriber streaming an endless body is delivered at once, and dropped past 64 KiB',
    async () => {
      let closed = false;
      const endless = await serveHandler((req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 120);
        const timer = setInterval(() => res.write(chunk), 5);
        req.socket.once('close', () => {
          clearInterval(timer);
          closed = true;
        });
      });
      running.push({ stop: endless.close });
      const started = Date.now();
      const result = await createWebhookSender({ timeoutMs: 5000 })(message(`${endless.url}/hook`), new Date());
      expect(result).toEqual({ delivered: true, status: 200, error: null });
      expect(Date.now() - started).toBeLessThan(2000);
      await waitFor('the connection to be dropped', () => closed);
    },
  );
});
