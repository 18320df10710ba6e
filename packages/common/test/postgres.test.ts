import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, describe, expect, test } from '@jest/globals';
import request from 'supertest';
import Router from '@koa/router';
import {
  connectPostgres,
  createRegistry,
  createServiceApp,
  createSilentLogger,
  DatabaseOpenError,
  databaseChecks,
  migratePostgres,
  openPostgres,
  redactUrl,
  type Migration,
  type Postgres,
} from '../src/index.js';
import { createTestDatabase } from '../../../test/support/databases.js';
import { captureLogs } from '../../../test/support/logs.js';
import { closedPort, switchablePath } from '../../../test/support/switchable-path.js';

const steps: Migration[] = [
  { version: 1, name: '001-things', sql: 'CREATE TABLE things (id bigint PRIMARY KEY, name text NOT NULL);' },
  { version: 2, name: '002-thing-colour', sql: "ALTER TABLE things ADD COLUMN colour text NOT NULL DEFAULT 'blue';" },
];

const made = createTestDatabase();
afterAll(async () => (await made).drop());

const opened: Postgres[] = [];
afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()));
});

async function connect(schema: string, url?: string): Promise<Postgres> {
  const db = connectPostgres({ url: url ?? (await made).url, poolSize: 4, schema, logger: createSilentLogger() });
  opened.push(db);
  return db;
}

/** A port where a server accepts connections and says nothing: a database that hangs. */
function silentServer(): Promise<{ port: number; server: Server }> {
  return new Promise((resolve) => {
    const server = createServer(() => undefined);
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as AddressInfo).port, server }));
  });
}

describe('schema migrations on PostgreSQL', () => {
  test('replicas that start together apply each step once, under the advisory lock', async () => {
    const replicas = await Promise.all(Array.from({ length: 5 }, () => connect('migrated_together')));
    await Promise.all(replicas.map((db) => migratePostgres(db, steps)));
    const applied = await replicas[0]!.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(applied.map((row) => row.version)).toEqual([1, 2]);
    await replicas[1]!.query("INSERT INTO things (id, name) VALUES (1, 'one')");
    expect(await replicas[2]!.query('SELECT id, name, colour FROM things')).toEqual([
      { id: 1, name: 'one', colour: 'blue' },
    ]);
  });

  test('a later build applies only the steps it adds, keeping the data', async () => {
    const db = await connect('migrated_forward');
    await migratePostgres(db, steps.slice(0, 1));
    await db.query("INSERT INTO things (id, name) VALUES (7, 'kept')");
    await migratePostgres(db, steps);
    expect(await db.query('SELECT id, name, colour FROM things')).toEqual([{ id: 7, name: 'kept', colour: 'blue' }]);
  });

  test('a schema written by a newer build is refused and left as it is', async () => {
    const db = await connect('migrated_newer');
    await migratePostgres(db, steps);
    const refusal = migratePostgres(db, steps.slice(0, 1));
    await expect(refusal).rejects.toBeInstanceOf(DatabaseOpenError);
    await expect(refusal).rejects.toThrow(/has version 2, newer than the 1 this build knows; it was left untouched/);
    expect(await db.query('SELECT COUNT(*) AS n FROM schema_migrations')).toEqual([{ n: 2 }]);
  });

  test('a schema holding another application’s tables is refused and left as it is', async () => {
    const db = await connect('someone_else');
    await db.query('CREATE SCHEMA someone_else');
    await db.query('CREATE TABLE someone_else.invoices (id int)');
    await expect(migratePostgres(db, steps)).rejects.toThrow(
      /holds tables of another application \(invoices\); it was left untouched/,
    );
    expect(
      await db.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'someone_else'"),
    ).toEqual([{ table_name: 'invoices' }]);
  });
});

describe('a database that cannot be reached', () => {
  test('stops the start with one line that names it without its password', async () => {
    const url = `postgres://welcome:hunter2@127.0.0.1:${await closedPort()}/welcome`;
    const start = openPostgres({
      url,
      poolSize: 2,
      schema: 'welcome',
      logger: createSilentLogger(),
      migrations: steps,
    });
    await expect(start).rejects.toBeInstanceOf(DatabaseOpenError);
    const message = await start.catch((error: Error) => error.message);
    expect(message).toMatch(
      /^the database at postgres:\/\/welcome:\*\*\*@127\.0\.0\.1:\d+\/welcome cannot be used \(ECONNREFUSED/,
    );
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('\n');
  });

  test(
    'answers every request that needs it with 503 and Retry-After, ' + 'says so once in the log, and /ready names it',
    async () => {
      const { logger, lines } = captureLogs('test');
      const url = `postgres://welcome:hunter2@127.0.0.1:${await closedPort()}/welcome`;
      const db = connectPostgres({ url, poolSize: 2, schema: 'welcome', logger });
      opened.push(db);
      const router = new Router();
      router.get('/things', async (ctx) => {
        ctx.body = await db.query('SELECT * FROM things');
      });
      router.post('/things', async (ctx) => {
        ctx.body = await db.transaction((tx) => tx.query('INSERT INTO things VALUES (1)'));
      });
      const http = request(
        createServiceApp({
          logger,
          router,
          registry: createRegistry('test'),
          readiness: databaseChecks({ kind: 'postgres', pg: db }),
          openapi: { openapi: '3.1.0', info: { title: 't', version: '1' }, paths: {} },
        }).callback(),
      );
      for (const answer of [await http.get('/things'), await http.post('/things'), await http.get('/things')]) {
        expect(answer.status).toBe(503);
        expect(answer.headers['retry-after']).toBe('5');
        expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(answer.body).toMatchObject({ type: '/problems/database-unavailable', status: 503 });
      }
      const ready = await http.get('/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.errors).toEqual([{ field: 'database', message: expect.stringContaining('cannot be reached') }]);
      expect(JSON.stringify(ready.body)).not.toContain('hunter2');
      const told = lines.filter((line) => /cannot be reached/.test(line.message));
      expect(told).toHaveLength(1);
      expect(told[0]!.level).toBe('error');
      expect(lines.map((line) => JSON.stringify(line)).join('\n')).not.toContain('hunter2');
    },
  );

  test('a server that accepts and never answers costs a request a few seconds, not a hang', async () => {
    const { port, server } = await silentServer();
    try {
      const db = connectPostgres({
        url: `postgres://welcome@127.0.0.1:${port}/welcome`,
        poolSize: 2,
        schema: 'welcome',
        logger: createSilentLogger(),
      });
      opened.push(db);
      const started = Date.now();
      await expect(db.query('SELECT 1')).rejects.toMatchObject({ status: 503 });
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      server.close();
    }
  });

  test('when it comes back, the same pool serves again and the log says so once', async () => {
    const { logger, lines } = captureLogs('test');
    const path = await switchablePath((await made).url);
    try {
      path.cut();
      const db = connectPostgres({ url: path.url, poolSize: 2, schema: 'welcome_back', logger });
      opened.push(db);
      await expect(db.query('SELECT 1 AS one')).rejects.toMatchObject({ status: 503 });
      path.restore();
      expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      expect(
        lines.filter((line) => /cannot be reached|answers again/.test(line.message)).map((line) => line.level),
      ).toEqual(['error', 'info']);
    } finally {
      await path.close();
    }
  });
});

describe('a connection the server ends', () => {
  test(
    'mid-transaction (a restart, an administrator) fails that transaction with a 503, ' +
      'never the process, and the next one is served',
    async () => {
      const db = await connect('welcome_ended');
      const ended = db.transaction(async (tx) => {
        const [mine] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // Ended from elsewhere while this transaction waits between two statements, as a server restart does.
        await db.query('SELECT pg_terminate_backend($1)', [mine!.pid]);
        await new Promise((resolve) => setTimeout(resolve, 200));
        return tx.query('SELECT 1 AS one');
      });
      await expect(ended).rejects.toMatchObject({ status: 503 });
      expect(await db.transaction((tx) => tx.query('SELECT 1 AS one'))).toEqual([{ one: 1 }]);
    },
  );
});

describe('DATABASE_URL in what a person sees', () => {
  test('is shown without its password', () => {
    expect(redactUrl('postgres://welcome:hunter2@db:5432/welcome')).toBe('postgres://welcome:***@db:5432/welcome');
    expect(redactUrl('postgres://welcome@db/welcome')).toBe('postgres://welcome@db/welcome');
    expect(redactUrl('not a url hunter2')).toBe('DATABASE_URL');
  });
});

describe('LISTEN', () => {
  test('hears the NOTIFY of a commit made on another connection', async () => {
    const db = await connect('listening');
    const heard: string[] = [];
    const listener = db.listen(db.channel('news'), (payload) => heard.push(payload));
    try {
      await expect(
        (async () => {
          for (let tries = 0; tries < 100 && heard.length === 0; tries++) {
            await db.query('SELECT pg_notify($1, $2)', [db.channel('news'), 'hello']);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          return heard[0];
        })(),
      ).resolves.toBe('hello');
    } finally {
      await listener.close();
    }
  });
});
