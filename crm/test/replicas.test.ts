import { afterEach, describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger, type Postgres, type ServiceDatabase } from '@welcome/common';
import { createCrm, type CrmDeps, type CrmParts } from '../src/app.js';
import { webhookId } from '../src/clients/webhook-sender.js';
import type { Customer } from '../src/domain/model.js';
import { customerCreatedEvent } from '../src/domain/webhooks.js';
import { createPostgresCustomerStore } from '../src/store/customers/postgres.js';
import { crmSchema } from '../src/store/schema.js';
import { createPostgresWebhookStore } from '../src/store/webhooks/postgres.js';
import { serveHandler, waitFor, type RunningServer } from '../../test/support/servers.js';
import { WELL_BEHAVED } from './support.js';
import { testDatabases } from '../../test/support/databases.js';

// Several CRM replicas on one PostgreSQL schema, each with a pool of its own, as separate processes would be.
const databases = testDatabases('crm', crmSchema);
const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((stop) => stop()));
});

type Http = ReturnType<typeof request>;

interface Replica {
  parts: CrmParts;
  http: Http;
  pg: Postgres;
}

/** A CRM replica on `schema`: started (dispatcher, LISTEN, WEBHOOK_URL) unless `started` is false. */
async function replica(schema: string, overrides: Partial<CrmDeps> = {}, started = true): Promise<Replica> {
  const database = await databases.open('postgres', { schema });
  const parts = createCrm({
    database,
    logger: createSilentLogger(),
    webhookRetryScheduleMs: [50, 50],
    webhookTimeoutMs: 1000,
    ...overrides,
  });
  running.push(() => parts.stop());
  if (started) await parts.start();
  return { parts, http: request(parts.app.callback()), pg: pgOf(database) };
}

function pgOf(database: ServiceDatabase): Postgres {
  if (database.kind !== 'postgres') throw new Error('a PostgreSQL database was expected');
  return database.pg;
}

const postJson = (http: Http, path: string, body: unknown) =>
  http.post(path).set('Content-Type', 'application/json').send(JSON.stringify(body));
const newCustomer = (http: Http, name: string) =>
  postJson(http, '/customers', { name, email: `${name.toLowerCase()}@example.com` });

/** Sessions of this database waiting for a lock of the kind named (pg_stat_activity's wait_event). */
async function waitingFor(pg: Postgres, waitEvent: 'transactionid' | 'advisory'): Promise<number> {
  const [row] = await pg.query<{ n: number }>(
    'SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() ' +
      "AND wait_event_type = 'Lock' AND wait_event = $1",
    [waitEvent],
  );
  return row!.n;
}

/** The connections that LISTEN for this schema's customers: a notification sent before they do is not heard. */
async function listeners(pg: Postgres): Promise<number[]> {
  const rows = await pg.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1',
    [`LISTEN ${pg.channel('customers')}`],
  );
  return rows.map((row) => row.pid);
}

/** A long poll after nothing, sent now (supertest sends a request only once it is awaited). */
const longPoll = (http: Http) => http.get('/customers?after=0&wait=25').then((response) => response);
const heldPolls = async (http: Http) =>
  Number(/crm_long_polls_held\{service="crm"\} (\d+)/.exec((await http.get('/metrics')).text)?.[1] ?? 0);

describe('the feed across replicas never skips a customer', () => {
  test(
    'a customer whose transaction commits after a later one was read ' +
      'is still found by a reader that continues from its cursor',
    async () => {
      const schema = databases.newSchema();
      const own = await databases.postgres(schema);
      const first = createPostgresCustomerStore(await databases.postgres(schema));
      const second = createPostgresCustomerStore(await databases.postgres(schema));
      const reader = await replica(schema, {}, false);
      const createdAt = new Date().toISOString();
      const before = (await first.insert(
        { name: 'Before', email: 'before@example.com', createdAt },
        customerCreatedEvent,
      ))!;

      // A transaction of the test's own holds the email late@ without committing.
      let rollBack!: () => void;
      const rolledBack = new Promise<void>((resolve) => (rollBack = resolve));
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const holder = own
        .transaction(async (tx) => {
          await tx.query('INSERT INTO customers (name, email, email_key, created_at) VALUES ($1, $2, $2, $3)', [
            'Holder',
            'late@example.com',
            createdAt,
          ]);
          holding();
          await rolledBack;
          throw new Error('rolled back by the test');
        })
        .catch(() => undefined);
      await held;

      // Replica 1 asks for late@ too: it waits on the held row's unique key, with its id drawn.
      const committed: Customer[] = [];
      const late = first
        .insert({ name: 'Late', email: 'late@example.com', createdAt }, customerCreatedEvent)
        .then((customer) => (committed.push(customer!), customer));
      await waitFor(
        'the late insert to wait on the held row',
        async () => (await waitingFor(own, 'transactionid')) === 1,
      );
      // Replica 2 asks for another email: it commits, or waits for replica 1's turn.
      let quickSettled = false;
      const quick = second
        .insert({ name: 'Quick', email: 'quick@example.com', createdAt }, customerCreatedEvent)
        .then((customer) => {
          quickSettled = true;
          committed.push(customer!);
          return customer;
        });
      await waitFor(
        'the quick insert to commit or to wait its turn',
        async () => quickSettled || (await waitingFor(own, 'advisory')) === 1,
      );

      // A third replica answers a poll meanwhile; its reader keeps the cursor the page gives.
      const firstPage = await reader.http.get(`/customers?after=${before.id}`);
      expect(firstPage.status).toBe(200);
      const cursor = (firstPage.body as Customer[]).at(-1)?.id ?? before.id;

      rollBack();
      await holder;
      await Promise.all([late, quick]);
      const nextPage = await reader.http.get(`/customers?after=${cursor}`);
      const seen = [...(firstPage.body as Customer[]), ...(nextPage.body as Customer[])];
      expect(seen.map((customer) => customer.name)).toEqual(['Late', 'Quick']);
      // Ids follow the order of the commits.
      expect(committed.map((customer) => customer.name)).toEqual(['Late', 'Quick']);
      expect(committed[0]!.id).toBeLessThan(committed[1]!.id);
    },
  );

  test('an email is taken once across replicas, whatever its case: one 201, one 409', async () => {
    const schema = databases.newSchema();
    const [a, b] = [await replica(schema, {}, false), await replica(schema, {}, false)];
    const answers = await Promise.all([
      postJson(a.http, '/customers', { name: 'Alice', email: 'alice@example.com' }),
      postJson(b.http, '/customers', { name: 'Other Alice', email: 'ALICE@example.com' }),
    ]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409]);
    expect((await a.http.get('/customers')).body).toHaveLength(1);
  });

  test('customers asked for on two replicas at once each get one id, none given twice', async () => {
    const schema = databases.newSchema();
    const stores = [0, 1].map(async () => createPostgresCustomerStore(await databases.postgres(schema)));
    const [a, b] = await Promise.all(stores);
    const createdAt = new Date().toISOString();
    const asked = Array.from({ length: 60 }, (_, i) =>
      (i % 2 === 0 ? a! : b!).insert(
        { name: `C${i}`, email: `c${i % 50}@example.com`, createdAt },
        customerCreatedEvent,
      ),
    );
    // Every insert is answered: with its customer, or refused for its email (undefined).
    const created = (await Promise.all(asked)).filter((customer) => customer !== undefined);
    expect(created).toHaveLength(50);
    expect(new Set(created.map((customer) => customer.id)).size).toBe(50);
    expect((await a!.listAfter(0, 100)).map((customer) => customer.id)).toEqual(
      created.map((customer) => customer.id).sort((x, y) => x - y),
    );
  });
});

describe('long polls wake on any replica’s commit', () => {
  test('a poll held on replica A is answered when replica B commits a customer, by notification', async () => {
    const schema = databases.newSchema();
    // No re-check on A: only B's notification can answer it before the wait runs out.
    const a = await replica(schema, { feedRecheckMs: null });
    const b = await replica(schema);
    await waitFor('both replicas to listen', async () => (await listeners(a.pg)).length === 2);
    const held = longPoll(a.http);
    await waitFor('the poll to be held', async () => (await heldPolls(a.http)) === 1);
    const alice = (await newCustomer(b.http, 'Alice')).body;
    expect((await held).body).toEqual([alice]);
  });

  test('a replica that hears no notification finds the commit by its re-check', async () => {
    const schema = databases.newSchema();
    // Not started: A does not listen at all.
    const a = await replica(schema, { feedRecheckMs: 200 }, false);
    const b = await replica(schema, {}, false);
    const held = longPoll(a.http);
    await waitFor('the poll to be held', async () => (await heldPolls(a.http)) === 1);
    const alice = (await newCustomer(b.http, 'Alice')).body;
    expect((await held).body).toEqual([alice]);
  });

  test('a replica whose listening connection was cut listens again and hears the next commits', async () => {
    const schema = databases.newSchema();
    const a = await replica(schema, { feedRecheckMs: null });
    const b = await replica(schema, { feedRecheckMs: null });
    await waitFor('both replicas to listen', async () => (await listeners(a.pg)).length === 2);
    const cut = await listeners(a.pg);
    await a.pg.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [cut]);
    await waitFor('both replicas to listen again', async () => {
      const now = await listeners(a.pg);
      return now.length === 2 && now.every((pid) => !cut.includes(pid));
    });
    const held = longPoll(a.http);
    await waitFor('the poll to be held', async () => (await heldPolls(a.http)) === 1);
    const alice = (await newCustomer(b.http, 'Alice')).body;
    expect((await held).body).toEqual([alice]);
  });
});

interface Subscriber extends RunningServer {
  /** The webhook-id of every request, in arrival order. */
  received: string[];
  receivedAt: number[];
  /** Webhook-ids that were being received twice at the same time. */
  overlapping: string[];
}

/** A subscriber that takes a little while to answer, so that two sends of one message would overlap. */
async function subscriber(answer: () => number = () => 204): Promise<Subscriber> {
  const received: string[] = [];
  const receivedAt: number[] = [];
  const overlapping: string[] = [];
  const inProgress = new Set<string>();
  const server = await serveHandler((req, res) => {
    const id = String(req.headers['webhook-id']);
    received.push(id);
    receivedAt.push(Date.now());
    if (inProgress.has(id)) overlapping.push(id);
    inProgress.add(id);
    setTimeout(() => {
      inProgress.delete(id);
      res.writeHead(answer());
      res.end();
    }, 20);
  });
  running.push(server.close);
  return Object.assign(server, { received, receivedAt, overlapping });
}

describe('the outbox is dispatched by all replicas together', () => {
  test(
    'customers posted across two replicas: ' + 'every message is delivered once, never sent by both at once',
    async () => {
      const schema = databases.newSchema();
      const target = await subscriber();
      const a = await replica(schema);
      const b = await replica(schema);
      const endpoint = (await postJson(a.http, '/webhook-endpoints', { url: `${target.url}/hook` })).body;
      const count = 60;
      for (let first = 0; first < count; first += 10) {
        const answers = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            newCustomer((first + i) % 2 === 0 ? a.http : b.http, `Customer${first + i}`),
          ),
        );
        expect(answers.every((answer) => answer.status === 201)).toBe(true);
      }
      const messages = `/webhook-endpoints/${endpoint.id}/messages?limit=1000`;
      await waitFor('every message delivered', async () => {
        const listed = (await b.http.get(messages)).body as Array<{ status: string }>;
        return listed.length === count && listed.every((message) => message.status === 'delivered');
      });
      // Stopping waits for any attempt still in flight: a second send of a message would be counted now.
      await Promise.all([a.parts.stop(), b.parts.stop()]);
      expect(target.overlapping).toEqual([]);
      expect([...target.received].sort()).toEqual(Array.from({ length: count }, (_, i) => webhookId(i + 1)).sort());
      expect(
        ((await a.http.get(messages)).body as Array<{ attempts: number }>).every((message) => message.attempts === 1),
      ).toBe(true);
    },
  );

  test('a message claimed by a replica that died is sent by another once the lease ends, and not before', async () => {
    const schema = databases.newSchema();
    const target = await subscriber();
    const a = await replica(schema, {}, false);
    await postJson(a.http, '/webhook-endpoints', { url: `${target.url}/hook` });
    await newCustomer(a.http, 'Alice');

    // The dead replica: it claimed the message and never recorded an attempt.
    const dead = createPostgresWebhookStore(await databases.postgres(schema));
    const claimedAt = new Date();
    const leaseUntil = new Date(claimedAt.getTime() + 1500).toISOString();
    expect((await dead.claimDue(claimedAt.toISOString(), 10, leaseUntil)).flat().map((message) => message.id)).toEqual([
      1,
    ]);

    const b = await replica(schema, { webhookLeaseMs: 1500 });
    await waitFor('the message to be sent', () => target.received.length === 1);
    expect(target.receivedAt[0]).toBeGreaterThanOrEqual(Date.parse(leaseUntil));
    await waitFor(
      'its delivery recorded',
      async () => (await b.http.get('/webhook-endpoints/1/messages')).body[0]?.status === 'delivered',
    );
    expect((await b.http.get('/webhook-endpoints/1/messages')).body[0]).toMatchObject({ attempts: 1, lastStatus: 204 });
  });

  test(
    'a retry asked for while a replica sends the message ' + 'does not let another claim it before the lease ends',
    async () => {
      const schema = databases.newSchema();
      const a = await replica(schema, {}, false);
      await postJson(a.http, '/webhook-endpoints', { url: 'http://127.0.0.1:9/hook' });
      await newCustomer(a.http, 'Alice');
      const sending = createPostgresWebhookStore(await databases.postgres(schema));
      const other = createPostgresWebhookStore(await databases.postgres(schema));
      const claimedAt = new Date();
      const leaseUntil = new Date(claimedAt.getTime() + 60_000).toISOString();
      expect(await sending.claimDue(claimedAt.toISOString(), 10, leaseUntil)).toHaveLength(1);

      expect((await a.http.post('/webhook-endpoints/1/messages/1/retry')).status).toBe(202);
      const afterRetry = new Date(Date.now() + 1).toISOString();
      expect(await other.claimDue(afterRetry, 10, new Date(Date.now() + 60_000).toISOString())).toEqual([]);
      expect(await other.nextDueAt()).toBe(leaseUntil);
      expect(
        (await other.claimDue(leaseUntil, 10, new Date(Date.parse(leaseUntil) + 60_000).toISOString()))
          .flat()
          .map((message) => message.id),
      ).toEqual([1]);
    },
  );
});

describe('start-up and limits across replicas', () => {
  test('replicas starting together with WEBHOOK_URL make one endpoint', async () => {
    const schema = databases.newSchema();
    const webhook = {
      url: 'http://localhost:3003/webhooks/crm',
      secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}`,
    };
    const replicas = await Promise.all([1, 2, 3].map(() => replica(schema, { webhook }, false)));
    await Promise.all(replicas.map((started) => started.parts.start()));
    expect((await replicas[0]!.http.get('/webhook-endpoints')).body).toEqual([
      { id: 1, url: webhook.url, batchSize: 1, createdAt: expect.any(String), ...WELL_BEHAVED },
    ]);
  });

  test('the 100-endpoint limit holds when the last places are asked for on two replicas at once', async () => {
    const schema = databases.newSchema();
    const [a, b] = [await replica(schema, {}, false), await replica(schema, {}, false)];
    for (let i = 1; i <= 98; i++)
      expect((await postJson(a.http, '/webhook-endpoints', { url: `http://localhost:9/${i}` })).status).toBe(201);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        postJson((i % 2 === 0 ? a : b).http, '/webhook-endpoints', { url: `http://localhost:9/last-${i}` }),
      ),
    );
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(2);
    expect(answers.filter((answer) => answer.status === 409)).toHaveLength(8);
    expect((await b.http.get('/webhook-endpoints?limit=1000')).body).toHaveLength(100);
  });
});
