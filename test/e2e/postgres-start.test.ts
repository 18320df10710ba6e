import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase } from '../support/databases.js';
import { waitFor } from '../support/servers.js';
import { closedPort, switchablePath } from '../support/switchable-path.js';
import { freePort, ROOT, ServiceProcess, type ServiceName } from './platform.js';

const SERVICES = ['crm', 'inventory', 'middleware'] as const;

/** Starts the built service with `env` and returns how it ended: it is expected to stop at once. */
function startWith(service: ServiceName, env: Record<string, string>) {
  const result = spawnSync(process.execPath, [join(ROOT, service, 'dist/index.js')], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', LOG_FORMAT: 'json', ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { status: result.status, lines: result.stderr.trim().split('\n'), stdout: result.stdout };
}

const databases: Array<{ drop(): Promise<void> }> = [];
afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});
async function freshDatabase(): Promise<string> {
  const made = await createTestDatabase();
  databases.push(made);
  return made.url;
}

describe('DATABASE_URL at start', () => {
  test.each(SERVICES)('%s refuses a malformed DATABASE_URL with one line, never showing its password', (service) => {
    const { status, lines, stdout } = startWith(service, { DATABASE_URL: 'postgres//welcome:hunter2@db/welcome' });
    expect(status).toBe(1);
    expect(lines).toEqual([
      `${service}: configuration error: DATABASE_URL is not valid: expected postgres://user:password@host:port/database`,
    ]);
    expect(stdout + lines.join('')).not.toContain('hunter2');
  });

  test.each(SERVICES)(
    '%s stops with one line when the server cannot be reached, never showing the password',
    async (service) => {
      const port = await closedPort();
      const { status, lines, stdout } = startWith(service, {
        DATABASE_URL: `postgres://welcome:hunter2@127.0.0.1:${port}/welcome`,
      });
      expect(status).toBe(1);
      expect(lines).toEqual([
        expect.stringMatching(
          new RegExp(
            `^${service}: could not start: the database at postgres://welcome:\\*\\*\\*@127\\.0\\.0\\.1:${port}/welcome cannot be used \\(ECONNREFUSED`,
          ),
        ),
      ]);
      expect(stdout + lines.join('')).not.toContain('hunter2');
    },
  );

  test.each(SERVICES)(
    '%s stops with one line on a schema written by a newer build, and leaves it as it is',
    async (service) => {
      const url = await freshDatabase();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE SCHEMA ${service}`);
        await client.query(
          `CREATE TABLE ${service}.schema_migrations ` +
            '(version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)',
        );
        await client.query(
          `INSERT INTO ${service}.schema_migrations VALUES (999, '999-future', '2030-01-01T00:00:00.000Z')`,
        );
        const { status, lines } = startWith(service, { DATABASE_URL: url });
        expect(status).toBe(1);
        expect(lines).toEqual([
          expect.stringMatching(
            new RegExp(
              `^${service}: could not start: the schema ${service} of .* has version 999, ` +
                'newer than the \\d+ this build knows',
            ),
          ),
        ]);
        expect((await client.query(`SELECT version FROM ${service}.schema_migrations`)).rows).toEqual([
          { version: 999 },
        ]);
      } finally {
        await client.end();
      }
    },
  );

  test(
    'the three services share one database, each in its schema, ' + 'and replicas that start together migrate it once',
    async () => {
      const url = await freshDatabase();
      // The middleware is ready only while its upstreams answer: its replicas use the first CRM and Inventory.
      const crm = new ServiceProcess('crm', { DATABASE_URL: url, LOG_LEVEL: 'warn' });
      const inventory = new ServiceProcess('inventory', { DATABASE_URL: url, LOG_LEVEL: 'warn' });
      crm.port = await freePort();
      inventory.port = await freePort();
      const replicas = [
        ...[crm, new ServiceProcess('crm', { DATABASE_URL: url, LOG_LEVEL: 'warn' })],
        ...[inventory, new ServiceProcess('inventory', { DATABASE_URL: url, LOG_LEVEL: 'warn' })],
        ...[1, 2].map(
          () =>
            new ServiceProcess('middleware', {
              DATABASE_URL: url,
              LOG_LEVEL: 'warn',
              CRM_URL: crm.url,
              INVENTORY_URL: inventory.url,
            }),
        ),
      ];
      try {
        await Promise.all(replicas.map((replica) => replica.start()));
        for (const replica of replicas) expect((await fetch(`${replica.url}/ready`)).status).toBe(200);
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          for (const service of SERVICES) {
            const applied = await client.query<{ version: number }>(
              `SELECT version FROM ${service}.schema_migrations ORDER BY version`,
            );
            expect(applied.rows.length).toBeGreaterThan(0);
            expect(applied.rows.map((row) => row.version)).toEqual(applied.rows.map((_, index) => index + 1));
          }
        } finally {
          await client.end();
        }
      } finally {
        await Promise.all(replicas.map((replica) => replica.kill()));
      }
    },
    60_000,
  );
});

describe('a service on PostgreSQL while the server goes away and comes back', () => {
  test(
    'the Inventory answers 503 with Retry-After (never 500, never a hang), ' +
      'is not ready, and serves again without a restart',
    async () => {
      const path = await switchablePath(await freshDatabase());
      const inventory = new ServiceProcess('inventory', { DATABASE_URL: path.url });
      try {
        await inventory.start();
        const post = (customerId: number) =>
          fetch(`${inventory.url}/packages`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ customerId, customerName: `Customer ${customerId}` }),
            signal: AbortSignal.timeout(15_000),
          });
        expect((await post(1)).status).toBe(201);

        path.cut();
        for (const attempt of [
          () => post(2),
          () => fetch(`${inventory.url}/packages`),
          () => fetch(`${inventory.url}/ready`),
        ]) {
          const started = Date.now();
          const answer = await attempt();
          expect(answer.status).toBe(503);
          expect(Date.now() - started).toBeLessThan(8000);
          if (answer.url.endsWith('/packages')) expect(answer.headers.get('retry-after')).toBe('5');
        }

        path.restore();
        await waitFor(
          'the Inventory to be ready again',
          async () => (await fetch(`${inventory.url}/ready`)).status === 200,
        );
        expect((await post(2)).status).toBe(201);
        const levels = inventory.logs
          .filter((line) => /cannot be reached|answers again/.test(line.message))
          .map((line) => line.level);
        expect(levels).toEqual(['error', 'info']);
        expect(inventory.logs.some((line) => line.level === 'error' && /Unexpected/.test(line.message))).toBe(false);
      } finally {
        await inventory.kill();
        await path.close();
      }
    },
    60_000,
  );
});
