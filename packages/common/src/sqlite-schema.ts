import { openDatabase, type Db } from './database.js';
import { DatabaseOpenError } from './errors.js';
import { latestVersion, type Migration } from './migrations.js';

/** What a service's SQLite file is made of, and how its connection is set once the file is known to be its own. */
export interface SqliteSetup {
  /** Stamped in the file's header (PRAGMA application_id), so that no service opens another's file. */
  applicationId: number;
  /** A table this service's files have always had: a file without stamps but with it predates them. */
  ownTable: string;
  /** The numbered steps of `<service>/migrations/sqlite/`, in order. */
  migrations: readonly Migration[];
  /** PRAGMAs set on the connection once the file is migrated, by name. */
  pragmas?: Readonly<Record<string, string>>;
}

function describeFile(db: Db): string {
  return db.name === ':memory:' ? 'the in-memory database' : `DB_PATH ${db.name}`;
}

const tablesOf = (db: Db): string[] =>
  db
    .prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .pluck()
    .all();

/** Why the file is not this build's to migrate: it belongs to another application, or a newer build wrote it. */
function refusal(
  db: Db,
  setup: SqliteSetup,
  file: { applicationId: number; tables: readonly string[]; version: number },
): DatabaseOpenError | undefined {
  const { applicationId, tables, version } = file;
  const ours =
    applicationId === setup.applicationId ||
    (applicationId === 0 && (tables.length === 0 || tables.includes(setup.ownTable)));
  if (!ours) {
    return new DatabaseOpenError(
      `${describeFile(db)} belongs to another application (application_id ${applicationId}, tables ` +
        `${tables.join(', ')}); it was left untouched: ` +
        "point DB_PATH at this service's own database or at a new file",
    );
  }
  const latest = latestVersion(setup.migrations);
  if (version > latest) {
    return new DatabaseOpenError(
      `${describeFile(db)} has schema version ${version}, newer than the ${latest} this build knows; it was left ` +
        'untouched: run the newer build that wrote it, or restore a backup made before the upgrade',
    );
  }
  return undefined;
}

/**
 * Makes the file the service's own: refuses, changing nothing, a file from a newer build or one
 * that belongs to another application; otherwise brings the schema to the newest version this
 * build knows, in one transaction, then turns on the write-ahead log.
 *
 * Each step is recorded in schema_migrations, as on PostgreSQL. The version is also kept in
 * PRAGMA user_version, the only stamp builds from before that table read, so that one of them
 * still refuses a file this build made newer. A file such a build wrote (a user_version and no
 * table) has its steps up to that version adopted as applied, and the rest applied.
 */
export function migrateSqlite(db: Db, setup: SqliteSetup): void {
  db.transaction(() => {
    const tables = tablesOf(db);
    const recorded = new Set(
      tables.includes('schema_migrations')
        ? db.prepare<[], number>('SELECT version FROM schema_migrations').pluck().all()
        : [],
    );
    const userVersion = db.pragma('user_version', { simple: true }) as number;
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const version = Math.max(userVersion, ...recorded);
    const refused = refusal(db, setup, { applicationId, tables, version });
    if (refused) throw refused;

    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TEXT NOT NULL
    ) STRICT`);
    const record = db.prepare<[number, string, string]>(
      'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
    );
    // An adopted step's applied_at is when it was adopted: the file does not say when it was applied.
    const now = new Date().toISOString();
    for (const step of setup.migrations.filter((migration) => !recorded.has(migration.version))) {
      if (step.version > version) db.exec(step.sql);
      record.run(step.version, step.name, now);
    }
    const latest = latestVersion(setup.migrations);
    if (userVersion < latest) db.pragma(`user_version = ${latest}`);
    if (applicationId !== setup.applicationId) db.pragma(`application_id = ${setup.applicationId}`);
  }).immediate();
  db.pragma('journal_mode = WAL');
}

/** Sets up an open file as the service runs on it: migrated (migrateSqlite), then its pragmas set. */
export function setUpSqlite(db: Db, setup: SqliteSetup): Db {
  migrateSqlite(db, setup);
  for (const [name, value] of Object.entries(setup.pragmas ?? {})) db.pragma(`${name} = ${value}`);
  return db;
}

/**
 * Opens the file at `path` (`:memory:` for tests) as the service's own: openDatabase, then
 * setUpSqlite. A file that is refused is closed again, as it was.
 */
export function openSqlite(path: string, setup: SqliteSetup): Db {
  const db = openDatabase(path);
  try {
    return setUpSqlite(db, setup);
  } catch (error) {
    db.close();
    throw error;
  }
}
