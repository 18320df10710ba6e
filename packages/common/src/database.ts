import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { AppError, DatabaseOpenError, type FieldError } from './errors.js';
import type { Logger } from './logger.js';

export type Db = Database.Database;

const codeOf = (error: unknown): string => String((error as { code?: unknown } | null)?.code ?? '');

/** Why opening `path` failed, in words a person can act on; the file itself is never touched. */
function explainOpenFailure(path: string, error: unknown): DatabaseOpenError {
  const code = codeOf(error);
  const reason = `${code || 'error'}: ${(error as Error).message}`;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new DatabaseOpenError(
      `DB_PATH ${path} is not a SQLite database or is damaged (${reason}); it was left untouched: ` +
        "point DB_PATH at this service's database or at a new file, or restore a backup",
      { cause: error },
    );
  }
  return new DatabaseOpenError(
    `the database ${path} cannot be opened for writing (${reason}): make its folder writable by this user, ` +
      'or point DB_PATH at a folder that is',
    { cause: error },
  );
}

/** The write-ahead log is cut back to this after a checkpoint, whatever size a burst made it. */
const WAL_SIZE_LIMIT = 4 * 1024 * 1024;

/**
 * Opens (creating if needed) a SQLite file with full sync, so that a row committed before a 2xx
 * survives a SIGKILL or a power cut. A file that is not a database, or a folder that cannot be
 * written, is a DatabaseOpenError. Nothing is written to the file here: `migrateSqlite` does that
 * once it knows the file is the service's own.
 */
export function openDatabase(path: string): Db {
  if (path !== ':memory:') {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      throw explainOpenFailure(path, error);
    }
  }
  let db: Db | undefined;
  try {
    db = new Database(path);
    // The first read of the file: a file that is not a database fails here, before any write.
    db.pragma('schema_version');
    db.pragma('synchronous = FULL');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error) {
    db?.close();
    throw explainOpenFailure(path, error);
  }
}

/**
 * Runs `commit` (one transaction) without waiting for the disk: for writes nobody is told of, whose
 * loss in a power cut costs only work done again (a webhook sent a second time under the same
 * webhook-id). The write-ahead log keeps them in order, so the next commit that does wait makes
 * them durable too; a process crash alone loses nothing.
 */
export function commitWithoutSync<R>(db: Db, commit: () => R): R {
  db.pragma('synchronous = NORMAL');
  try {
    return commit();
  } finally {
    db.pragma('synchronous = FULL');
  }
}

/** True for the error SQLite raises when a UNIQUE index refuses a row. */
export function isUniqueViolation(error: unknown): boolean {
  return codeOf(error) === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** The disk under the database is full: the write was not made, and may be tried again later. */
export function isStorageFull(error: unknown): boolean {
  const code = codeOf(error);
  return code === 'SQLITE_FULL' || code === 'ENOSPC';
}

/** SQLite could not take the write just now (locked, or an I/O error): not the client's fault, not permanent. */
function isStorageUnavailable(error: unknown): boolean {
  const code = codeOf(error);
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_IOERR');
}

/** How long a client is told to wait before sending a write refused for lack of space again. */
export const STORAGE_RETRY_AFTER_S = 30;

/** A write refused because the disk is full: answered 507 with Retry-After, and nothing was stored. */
export class StorageFullError extends AppError {
  constructor(cause?: unknown) {
    super(
      507,
      'insufficient-storage',
      "The disk under this service's database is full; nothing was stored. Try again later.",
      {
        headers: { 'Retry-After': String(STORAGE_RETRY_AFTER_S) },
        cause,
      },
    );
    this.name = 'StorageFullError';
  }
}

function storageUnavailable(cause: unknown): AppError {
  return new AppError(
    503,
    'storage-unavailable',
    `The database could not take the write just now (${codeOf(cause)}); nothing was stored. Try again.`,
    {
      headers: { 'Retry-After': '1' },
      cause,
    },
  );
}

/**
 * Every write a service answers for goes through `write`: a full disk becomes a 507 problem (an
 * AppError any layer can pass up), and the service remembers it, so that /ready says so and the
 * log says it once when it begins and once when it ends, not once per request.
 *
 * A full disk still takes the small writes that fit in space SQLite already holds, so the end is
 * not the first write that succeeds: it is when every kind of write (`name`) that failed has
 * succeeded again.
 */
export interface StorageGuard {
  write<T>(name: string, commit: () => T): T;
  /** For /ready: names the full disk until the writes it refused succeed again. */
  readiness(): FieldError | undefined;
}

export function createStorageGuard(db: Db, logger: Logger): StorageGuard {
  let full: { since: Date; refused: Set<string> } | undefined;

  return {
    write(name, commit) {
      let result;
      try {
        result = commit();
      } catch (error) {
        if (isStorageFull(error)) {
          if (full === undefined) {
            full = { since: new Date(), refused: new Set() };
            logger.error(`The disk under ${db.name} is full: writes are refused with 507 until space is freed`, {
              dbPath: db.name,
              write: name,
              error: (error as Error).message,
            });
          }
          full.refused.add(name);
          throw new StorageFullError(error);
        }
        if (isStorageUnavailable(error)) throw storageUnavailable(error);
        throw error;
      }
      if (full?.refused.delete(name) && full.refused.size === 0) {
        const seconds = Math.round((Date.now() - full.since.getTime()) / 100) / 10;
        full = undefined;
        logger.info(`The disk under ${db.name} takes writes again, after ${seconds} s full`, {
          dbPath: db.name,
          seconds,
        });
      }
      return result;
    },
    readiness: () =>
      full === undefined
        ? undefined
        : {
            field: 'storage',
            message:
              `the disk under the database has been full since ${full.since.toISOString()}; ` +
              'writes are refused with 507',
          },
  };
}
