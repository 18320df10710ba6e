import { randomBytes } from 'node:crypto';
import { afterAll, afterEach } from '@jest/globals';
import pg from 'pg';
import {
  connectPostgres,
  createSilentLogger,
  migratePostgres,
  openSqlite,
  sqliteDatabase,
  type Logger,
  type Postgres,
  type ServiceDatabase,
  type ServiceSchema,
} from '@welcome/common';

/** The two backends every store's behaviour suite runs on. */
export type Backend = 'sqlite' | 'postgres';
export const BACKENDS: readonly Backend[] = ['sqlite', 'postgres'];

/**
 * The server the PostgreSQL tests use (see test/support/postgres-setup.mjs); a test fails, never
 * skips, without one.
 */
export function testServerUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url)
    throw new Error(
      `no PostgreSQL server for the tests: ${process.env.TEST_DATABASE_ERROR ?? 'TEST_DATABASE_URL is not set'}`,
    );
  return url;
}

async function onServer<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testServerUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database on the test server, and how to drop it. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `welcome_test_${randomBytes(6).toString('hex')}`;
  await onServer((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(testServerUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      onServer((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/**
 * The databases of one test file: SQLite files or `:memory:`, and on PostgreSQL one database of
 * the file's own (made on first use, dropped after the file), with a fresh schema for every
 * database a test opens; each migrated and set up as the service does at start. What a test
 * opened is closed after it.
 */
export function testDatabases(service: string, serviceSchema: ServiceSchema) {
  let database: Promise<{ url: string; drop(): Promise<void> }> | undefined;
  let schemas = 0;
  const opened: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((close) => close()));
  });
  afterAll(async () => {
    await (await database)?.drop();
  });
  const url = () => (database ??= createTestDatabase()).then((made) => made.url);

  return {
    /** The URL of this file's PostgreSQL database, for services started as processes. */
    url,
    /** A fresh schema's name, to open again later (a restart). */
    newSchema: () => `${service}_${++schemas}`,
    /** Connects to `schema` of this file's database and migrates it; closed after the test. */
    async postgres(
      schema = `${service}_${++schemas}`,
      options: { logger?: Logger; poolSize?: number } = {},
    ): Promise<Postgres> {
      const pgDb = connectPostgres({
        url: await url(),
        poolSize: options.poolSize ?? 4,
        schema,
        logger: options.logger ?? createSilentLogger(),
        settings: serviceSchema.postgres.settings,
      });
      opened.push(() => pgDb.close());
      await migratePostgres(pgDb, serviceSchema.postgres.migrations);
      return pgDb;
    },
    /**
     * A database on `backend`: SQLite at `path` (`:memory:` by default), or PostgreSQL in
     * `schema` (a fresh one by default).
     */
    async open(
      backend: Backend,
      options: { path?: string; schema?: string; logger?: Logger } = {},
    ): Promise<ServiceDatabase> {
      const logger = options.logger ?? createSilentLogger();
      if (backend === 'sqlite') {
        const db = openSqlite(options.path ?? ':memory:', serviceSchema.sqlite);
        opened.push(async () => void (db.open && db.close()));
        return sqliteDatabase(db, logger);
      }
      return { kind: 'postgres', pg: await this.postgres(options.schema, { logger }) };
    },
  };
}

/**
 * A service's SQLite database in memory, or in the file at `path`, migrated as the service does at
 * start: for tests that need a service, not a backend.
 */
export function sqliteAt(
  schema: ServiceSchema,
  path = ':memory:',
  logger: Logger = createSilentLogger(),
): ServiceDatabase {
  return sqliteDatabase(openSqlite(path, schema.sqlite), logger);
}
