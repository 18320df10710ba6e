import type { DatabaseConfig } from './config.js';
import { createStorageGuard, openDatabase, type Db, type StorageGuard } from './database.js';
import type { Logger } from './logger.js';
import type { Postgres } from './postgres.js';
import { openPostgres, type PostgresSetup } from './postgres-schema.js';

/**
 * A service's database, as its stores are built on it: a SQLite file, with the guard that turns a
 * full disk into 507s, or a PostgreSQL server shared by any number of replicas.
 */
export type ServiceDatabase = { kind: 'sqlite'; db: Db; storage: StorageGuard } | { kind: 'postgres'; pg: Postgres };

/** A SQLite database as a service's: the file at `path` (`:memory:` for tests). */
export function sqliteDatabase(db: Db, logger: Logger): ServiceDatabase {
  return { kind: 'sqlite', db, storage: createStorageGuard(db, logger) };
}

/** Where the log says the data is, without a password. */
export function describeDatabase(database: ServiceDatabase): string {
  return database.kind === 'sqlite' ? database.db.name : database.pg.where;
}

/**
 * Opens the database the configuration names. PostgreSQL's schema is migrated here, before the
 * service takes requests (SQLite's by each store as it opens the file, as before).
 */
export async function openServiceDatabase(
  config: DatabaseConfig,
  options: { service: string; logger: Logger; postgres: PostgresSetup },
): Promise<ServiceDatabase> {
  if (config.kind === 'sqlite') return sqliteDatabase(openDatabase(config.path), options.logger);
  const pg = await openPostgres({
    url: config.url,
    poolSize: config.poolSize,
    schema: options.service,
    logger: options.logger,
    migrations: options.postgres.migrations,
    settings: options.postgres.settings,
  });
  return { kind: 'postgres', pg };
}

export async function closeServiceDatabase(database: ServiceDatabase): Promise<void> {
  if (database.kind === 'sqlite') database.db.close();
  else await database.pg.close();
}
