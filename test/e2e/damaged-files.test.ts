import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { createSilentLogger, latestVersion, openSqlite, sqliteDatabase } from '@welcome/common';
import request from 'supertest';
import { createApp as createCrm } from '../../crm/src/app.js';
import { crmSchema } from '../../crm/src/store/schema.js';
import { inventorySchema } from '../../inventory/src/store/schema.js';
import { ROOT, type ServiceName } from './platform.js';

const dir = mkdtempSync(join(tmpdir(), 'damaged-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = (name: string) => join(dir, `${(files += 1)}-${name}`);

/** Starts the built service on `dbPath` and returns how it ended, if it did within the time. */
function startOn(service: ServiceName, dbPath: string) {
  const result = spawnSync(process.execPath, [join(ROOT, service, 'dist/index.js')], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', DB_PATH: dbPath, LOG_FORMAT: 'json' },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { status: result.status, lines: result.stderr.trim().split('\n') };
}

/** A SQLite file made by hand with the given stamps and tables. */
function sqliteFile(path: string, stamps: { applicationId?: number; userVersion?: number }, sql: string): Buffer {
  const db = new Database(path);
  db.exec(sql);
  if (stamps.applicationId !== undefined) db.pragma(`application_id = ${stamps.applicationId}`);
  if (stamps.userVersion !== undefined) db.pragma(`user_version = ${stamps.userVersion}`);
  db.close();
  return readFileSync(path);
}

describe('a damaged or foreign database file stops the service at start, untouched', () => {
  test.each(['crm', 'inventory', 'middleware'] as const)(
    '%s refuses a DB_PATH that is not a SQLite database',
    (service) => {
      const path = freshPath('notes.txt');
      const content = Buffer.from('These are my notes, not a database.\n'.repeat(200));
      writeFileSync(path, content);
      const { status, lines } = startOn(service, path);
      expect(status).toBe(1);
      expect(lines).toEqual([
        expect.stringMatching(
          new RegExp(
            `^${service}: could not start: DB_PATH ${path} is not a SQLite database .*left untouched: point DB_PATH`,
          ),
        ),
      ]);
      expect(readFileSync(path)).toEqual(content);
    },
  );

  test('a database written by a newer build (a higher schema version) is refused, not downgraded', () => {
    const path = freshPath('crm.db');
    const before = sqliteFile(
      path,
      { applicationId: crmSchema.sqlite.applicationId, userVersion: 99 },
      crmSchema.sqlite.migrations[0]!.sql,
    );
    const { status, lines } = startOn('crm', path);
    expect(status).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(
        /^crm: could not start: DB_PATH .* has schema version 99, newer than the \d+ this build knows; .*run the newer build/,
      ),
    ]);
    expect(readFileSync(path)).toEqual(before);
  });

  test("another service's database is refused: the CRM never writes into the Inventory's file", () => {
    const path = freshPath('inventory.db');
    const before = sqliteFile(
      path,
      { applicationId: inventorySchema.sqlite.applicationId, userVersion: 1 },
      inventorySchema.sqlite.migrations[0]!.sql,
    );
    const { status, lines } = startOn('crm', path);
    expect(status).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(/^crm: could not start: DB_PATH .* belongs to another application .*tables packages/),
    ]);
    expect(readFileSync(path)).toEqual(before);
  });

  test('an unstamped SQLite file of some other program is refused too', () => {
    const path = freshPath('other.db');
    const before = sqliteFile(path, {}, 'CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT)');
    const { status, lines } = startOn('inventory', path);
    expect(status).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(/^inventory: could not start: DB_PATH .* belongs to another application/),
    ]);
    expect(readFileSync(path)).toEqual(before);
  });

  test('a folder that cannot be written is said in one line, with what to do', () => {
    const blocker = freshPath('a-file');
    writeFileSync(blocker, 'not a folder');
    const { status, lines } = startOn('middleware', join(blocker, 'middleware.db'));
    expect(status).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(
        /^middleware: could not start: the database .* cannot be opened for writing \(E\w+: .*\): make its folder writable/,
      ),
    ]);
  });
});

describe('schema versions', () => {
  test('a new database is stamped with the service and the schema version', () => {
    const db = openSqlite(':memory:', crmSchema.sqlite);
    expect(db.pragma('application_id', { simple: true })).toBe(crmSchema.sqlite.applicationId);
    expect(db.pragma('user_version', { simple: true })).toBe(latestVersion(crmSchema.sqlite.migrations));
  });

  test('a database from before versioning is adopted and migrated forward with its data', async () => {
    const path = freshPath('crm.db');
    sqliteFile(
      path,
      {},
      `${crmSchema.sqlite.migrations[0]!.sql}
       INSERT INTO customers (name, email, email_key, created_at) ` +
        "VALUES ('Old Alice', 'alice@example.com', 'alice@example.com', '2026-01-01T00:00:00.000Z');",
    );
    const db = openSqlite(path, crmSchema.sqlite);
    const http = request(
      createCrm({ database: sqliteDatabase(db, createSilentLogger()), logger: createSilentLogger() }).callback(),
    );
    expect((await http.get('/customers/1')).body).toMatchObject({ id: 1, name: 'Old Alice' });
    expect(db.pragma('user_version', { simple: true })).toBe(latestVersion(crmSchema.sqlite.migrations));
    expect(db.pragma('application_id', { simple: true })).toBe(crmSchema.sqlite.applicationId);
    db.close();
  });
});
