import type { DatabaseConfig } from './config.js';
import { createStorageGuard, type Db, type StorageGuard } from './database.js';
import type { Logger } from './logger.js';
import type { Postgres } from './postgres.js';
import { openPostgres, type PostgresSetup } from './postgres-schema.js';
import { openSqlite, type SqliteSetup } from './sqlite-schema.js';

/**
 * A service's database, as its stores are built on it: a SQLite file, with the guard that turns a
 * full disk into 507s, or a PostgreSQL server shared by any number of replicas.
 */
export type ServiceDatabase = { kind: 'sqlite'; db: Db; storage: StorageGuard } | { kind: 'postgres'; pg: Postgres };

/**
 * How a service keeps its data, on either backend: each one's numbered steps and how its
 * connections are set. A service says it once, in its src/store/schema.ts.
 */
export interface ServiceSchema {
  sqlite: SqliteSetup;
  postgres: PostgresSetup;
}

/** A SQLite database as a service's: the file at `path` (`:memory:` for tests). */
export function sqliteDatabase(db: Db, logger: Logger): ServiceDatabase {
  return { kind: 'sqlite', db, storage: createStorageGuard(db, logger) };
}

/** Where the log says the data is, without a password. */
export function describeDatabase(database: ServiceDatabase): string {
  return database.kind === 'sqlite' ? database.db.name : database.pg.where;
}

/**
 * Opens the database the configuration names and migrates it, SQLite and PostgreSQL alike, before
 * the service takes requests: its stores find their tables in place.
 */
export async function openServiceDatabase(
  config: DatabaseConfig,
  options: { service: string; logger: Logger; schema: ServiceSchema },
): Promise<ServiceDatabase> {
  const { sqlite, postgres } = options.schema;
  if (config.kind === 'sqlite') return sqliteDatabase(openSqlite(config.path, sqlite), options.logger);
  const pg = await openPostgres({
    url: config.url,
    poolSize: config.poolSize,
    schema: options.service,
    logger: options.logger,
    migrations: postgres.migrations,
    settings: postgres.settings,
  });
  return { kind: 'postgres', pg };
}

export async function closeServiceDatabase(database: ServiceDatabase): Promise<void> {
  if (database.kind === 'sqlite') database.db.close();
  else await database.pg.close();
}
