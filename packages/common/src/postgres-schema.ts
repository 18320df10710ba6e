import { DatabaseOpenError } from './errors.js';
import { latestVersion, type Migration } from './migrations.js';
import { connectPostgres, type Postgres, type PostgresOptions } from './postgres.js';

const codeOf = (error: unknown): string => String((error as { code?: unknown } | null)?.code ?? '');

/**
 * What a service's schema is made of, and the settings of every connection it opens: the
 * middleware, whose state is rebuilt by sending again what its cursor has not passed, commits
 * without waiting for the disk (`synchronous_commit = off`), as it does on SQLite.
 */
export interface PostgresSetup {
  migrations: readonly Migration[];
  settings?: Readonly<Record<string, string>>;
}

/**
 * Brings this service's schema to the newest version this build knows, in one transaction under a
 * transaction-scoped advisory lock, so that replicas starting together apply each step once. A
 * schema written by a newer build, or one holding another application's tables, is refused and
 * left as it is.
 */
export async function migratePostgres(db: Postgres, migrations: readonly Migration[]): Promise<void> {
  const latest = latestVersion(migrations);
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`welcome-integration:migrate:${db.schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${db.schema}`);
    const tables = await tx.query<{ name: string }>(
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1',
      [db.schema],
    );
    if (tables.length > 0 && !tables.some((table) => table.name === 'schema_migrations')) {
      throw new DatabaseOpenError(
        `the schema ${db.schema} of ${db.where} holds tables of another application ` +
          `(${tables.map((t) => t.name).join(', ')}); ` +
          "it was left untouched: point DATABASE_URL at this service's own database or at a new one",
      );
    }
    await tx.query(`CREATE TABLE IF NOT EXISTS ${db.schema}.schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at text NOT NULL
    )`);
    const [{ version }] = (await tx.query<{ version: number | null }>(
      `SELECT MAX(version) AS version FROM ${db.schema}.schema_migrations`,
    )) as [{ version: number | null }];
    const current = version ?? 0;
    if (current > latest) {
      throw new DatabaseOpenError(
        `the schema ${db.schema} of ${db.where} has version ${current}, ` +
          `newer than the ${latest} this build knows; ` +
          'it was left untouched: run the newer build that wrote it, or restore a backup made before the upgrade',
      );
    }
    for (const step of migrations.filter((migration) => migration.version > current)) {
      await tx.query(`SET LOCAL search_path TO ${db.schema}`);
      await tx.query(step.sql);
      await tx.query(`INSERT INTO ${db.schema}.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [
        step.version,
        step.name,
        new Date().toISOString(),
      ]);
    }
  });
}

/**
 * Connects to DATABASE_URL and migrates the service's schema; a server that cannot be reached or
 * a schema that is not this build's stops the service with one line that names the URL without
 * its password.
 */
export async function openPostgres(options: PostgresOptions & { migrations: readonly Migration[] }): Promise<Postgres> {
  const db = connectPostgres(options);
  try {
    await migratePostgres(db, options.migrations);
    return db;
  } catch (error) {
    await db.close().catch(() => undefined);
    if (error instanceof DatabaseOpenError) throw error;
    const cause = (error as { cause?: unknown }).cause ?? error;
    const reason = `${codeOf(cause) || 'error'}: ${(cause as Error).message}`;
    throw new DatabaseOpenError(
      `the database at ${db.where} cannot be used (${reason}): start it, or point DATABASE_URL at one that runs`,
      {
        cause: error,
      },
    );
  }
}
