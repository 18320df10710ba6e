import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import request from 'supertest';
import { createSilentLogger, createStorageGuard, openSqlite } from '@welcome/common';
import { createApp } from '../src/app.js';
import { customerCreatedEvent } from '../src/domain/webhooks.js';
import { createSqliteCustomerStore } from '../src/store/customers/sqlite.js';
import { crmSchema } from '../src/store/schema.js';
import { createCrmStores } from '../src/store/stores.js';
import { failCommitsOn } from '../../test/storage/faults.js';
import { BACKENDS, testDatabases, type Backend } from '../../test/support/databases.js';

const databases = testDatabases('crm', crmSchema);

/** A CRM on `backend`: in a fresh database, or on the data at `path` (SQLite) or in `schema` (PostgreSQL). */
async function crm(backend: Backend, where: { path?: string; schema?: string } = {}) {
  const app = createApp({ database: await databases.open(backend, where), logger: createSilentLogger() });
  return request(app.callback());
}

/** Where a CRM started again finds the data of the one before. */
const lastingData = (backend: Backend) =>
  backend === 'sqlite'
    ? { path: join(mkdtempSync(join(tmpdir(), 'crm-')), 'crm.db') }
    : { schema: databases.newSchema() };

type Http = Awaited<ReturnType<typeof crm>>;
const post = (http: Http, body: unknown) =>
  http.post('/customers').set('Content-Type', 'application/json').send(JSON.stringify(body));

describe.each(BACKENDS)('the CRM on %s', (backend) => {
  describe('POST /customers', () => {
    test('creates a customer: 201, the customer, and its Location', async () => {
      const http = await crm(backend);
      const response = await post(http, { name: 'Alice', email: 'alice@example.com' });
      expect(response.status).toBe(201);
      expect(response.body).toEqual({
        id: 1,
        name: 'Alice',
        email: 'alice@example.com',
        createdAt: expect.any(String),
      });
      expect(new Date(response.body.createdAt).toISOString()).toBe(response.body.createdAt);
      expect(response.headers.location).toBe('/customers/1');
      expect((await http.get('/customers/1')).body).toEqual(response.body);
    });

    test('stores the name trimmed, with its Unicode exactly as sent', async () => {
      const http = await crm(backend);
      const name = 'Zoë Ñandú 李小龍 👩🏽‍💻 e\u0301';
      const response = await post(http, { name: `  ${name}\t `, email: 'zoe@example.com' });
      expect(response.status).toBe(201);
      expect(response.body.name).toBe(name);
    });

    test('accepts a name of 200 characters, counting emoji as one each, and refuses 201', async () => {
      const http = await crm(backend);
      expect((await post(http, { name: '😀'.repeat(200), email: 'a@example.com' })).status).toBe(201);
      const tooLong = await post(http, { name: 'a'.repeat(201), email: 'b@example.com' });
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.errors).toEqual([{ field: 'name', message: 'must be at most 200 characters' }]);
    });

    test.each([
      ['missing', { email: 'a@example.com' }, 'is required'],
      ['empty', { name: '', email: 'a@example.com' }, 'must not be empty'],
      ['only spaces', { name: '   ', email: 'a@example.com' }, 'must not be empty'],
      ['a number', { name: 42, email: 'a@example.com' }, 'must be a string'],
      ['null', { name: null, email: 'a@example.com' }, 'must be a string'],
    ])('refuses a name that is %s with a 400 naming the field', async (_, body, message) => {
      const http = await crm(backend);
      const response = await post(http, body);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body).toMatchObject({ type: '/problems/validation-failed', status: 400, title: 'Bad Request' });
      expect(response.body.errors).toEqual([{ field: 'name', message }]);
      expect((await http.get('/customers')).body).toEqual([]);
    });

    test.each([
      ['not an address', 'alice'],
      ['without a domain', 'alice@'],
      ['with spaces inside', 'al ice@example.com'],
      ['longer than 254 characters', `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`],
    ])('refuses an email %s', async (_, email) => {
      const http = await crm(backend);
      const response = await post(http, { name: 'Alice', email });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: 'email', message: expect.any(String) }]);
      expect((await http.get('/customers')).body).toEqual([]);
    });

    test('refuses an email already taken, whatever its case, with a 409', async () => {
      const http = await crm(backend);
      await post(http, { name: 'Alice', email: 'alice@example.com' });
      const response = await post(http, { name: 'Other Alice', email: 'ALICE@Example.COM' });
      expect(response.status).toBe(409);
      expect(response.body).toMatchObject({ type: '/problems/email-taken', status: 409 });
      expect((await http.get('/customers')).body).toHaveLength(1);
    });

    test.each([['id'], ['createdAt'], ['vip']])('refuses a body with the field %s, naming it', async (field) => {
      const http = await crm(backend);
      const response = await post(http, { name: 'Alice', email: 'alice@example.com', [field]: 7 });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field, message: 'is not an accepted field' }]);
      expect((await http.get('/customers')).body).toEqual([]);
    });

    test('refuses a body that is an array', async () => {
      const http = await crm(backend);
      const response = await post(http, [{ name: 'Alice', email: 'alice@example.com' }]);
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: '', message: 'the body must be a JSON object' }]);
    });

    test('gives ids that only grow, and never again after a restart', async () => {
      const data = lastingData(backend);
      const first = await crm(backend, data);
      const a = await post(first, { name: 'A', email: 'a@example.com' });
      await post(first, { name: 'Dup', email: 'a@example.com' });
      const b = await post(first, { name: 'B', email: 'b@example.com' });
      const second = await crm(backend, data);
      const c = await post(second, { name: 'C', email: 'c@example.com' });
      expect([a.body.id, b.body.id, c.body.id]).toEqual([1, 2, 3]);
      expect((await second.get('/customers')).body.map((x: { name: string }) => x.name)).toEqual(['A', 'B', 'C']);
    });
  });

  describe('GET /customers/:id', () => {
    test('answers 404 as a problem for a customer that does not exist', async () => {
      const http = await crm(backend);
      const response = await http.get('/customers/99');
      expect(response.status).toBe(404);
      expect(response.body).toMatchObject({
        type: '/problems/not-found',
        status: 404,
        detail: 'There is no customer 99.',
      });
    });

    test.each(['abc', '0', '-1', '1.5', '99999999999999999999'])('answers 400 for the id %s', async (id) => {
      const http = await crm(backend);
      const response = await http.get(`/customers/${id}`);
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: 'id', message: 'must be a positive whole number' }]);
    });
  });

  describe('GET /customers', () => {
    async function withCustomers(count: number) {
      const http = await crm(backend);
      for (let i = 1; i <= count; i++) await post(http, { name: `C${i}`, email: `c${i}@example.com` });
      return http;
    }

    test('pages by id with a Link to the next page until the last', async () => {
      const http = await withCustomers(5);
      const first = await http.get('/customers?limit=2');
      expect(first.body.map((c: { id: number }) => c.id)).toEqual([1, 2]);
      expect(first.headers.link).toBe('</customers?after=2&limit=2>; rel="next"');
      const second = await http.get('/customers?after=2&limit=2');
      expect(second.body.map((c: { id: number }) => c.id)).toEqual([3, 4]);
      const last = await http.get('/customers?after=4&limit=2');
      expect(last.body.map((c: { id: number }) => c.id)).toEqual([5]);
      expect(last.headers.link).toBeUndefined();
    });

    test('gives no Link when the page holds exactly the rest', async () => {
      const http = await withCustomers(2);
      const response = await http.get('/customers?limit=2');
      expect(response.body).toHaveLength(2);
      expect(response.headers.link).toBeUndefined();
    });

    test('sends 100 customers by default', async () => {
      const http = await withCustomers(101);
      const response = await http.get('/customers');
      expect(response.body).toHaveLength(100);
      expect(response.headers.link).toBe('</customers?after=100&limit=100>; rel="next"');
    });

    test.each([
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=ten', 'limit'],
      ['after=-1', 'after'],
      ['after=1.5', 'after'],
      ['after=1&after=2', 'after'],
    ])('answers 400 for %s', async (query, field) => {
      const http = await withCustomers(1);
      const response = await http.get(`/customers?${query}`);
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field, message: expect.any(String) }]);
    });

    test('accepts the largest limit, 1000', async () => {
      const http = await withCustomers(1);
      expect((await http.get('/customers?limit=1000')).status).toBe(200);
    });
  });

  test('customers asked for together share one commit, and a taken email refuses only its own', async () => {
    const { customers: store } = createCrmStores(await databases.open(backend));
    const createdAt = new Date().toISOString();
    await store.insert({ name: 'Earlier', email: 'd@example.com', createdAt }, customerCreatedEvent);
    const asked = ['a', 'b', 'a', 'c', 'D'].map((who, i) =>
      store.insert({ name: `Customer ${i}`, email: `${who}@example.com`, createdAt }, customerCreatedEvent),
    );
    // A taken email is refused (undefined), and a refusal draws no id.
    expect((await Promise.all(asked)).map((customer) => customer?.id)).toEqual([2, 3, undefined, 4, undefined]);
    expect((await store.listAfter(0, 10)).map((c) => c.email)).toEqual([
      'd@example.com',
      'a@example.com',
      'b@example.com',
      'c@example.com',
    ]);
    expect(await store.highestId()).toBe(4);
  });
});

describe('the CRM on sqlite, when its file fails', () => {
  test('when the shared commit fails, none of them is stored and no id is handed out', async () => {
    const db = openSqlite(':memory:', crmSchema.sqlite);
    const store = createSqliteCustomerStore(db, createStorageGuard(db, createSilentLogger()));
    const breaker = failCommitsOn(db, 'customers');
    const createdAt = new Date().toISOString();
    const settled = await Promise.allSettled(
      ['a', 'b', 'c'].map((who) =>
        store.insert({ name: who, email: `${who}@example.com`, createdAt }, customerCreatedEvent),
      ),
    );
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    breaker.heal();
    expect((await store.insert({ name: 'd', email: 'd@example.com', createdAt }, customerCreatedEvent))?.id).toBe(1);
  });
});
