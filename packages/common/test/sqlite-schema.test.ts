import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import {
  DatabaseOpenError,
  loadMigrations,
  migrateSqlite,
  openDatabase,
  openSqlite,
  type Db,
  type Migration,
  type SqliteSetup,
} from '../src/index.js';

const steps: Migration[] = [
  { version: 1, name: '001-things', sql: 'CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT;' },
  { version: 2, name: '002-thing-colour', sql: "ALTER TABLE things ADD COLUMN colour TEXT NOT NULL DEFAULT 'blue';" },
  { version: 3, name: '003-thing-size', sql: 'ALTER TABLE things ADD COLUMN size INTEGER;' },
];
const setup = (migrations: readonly Migration[] = steps): SqliteSetup => ({
  applicationId: 0x74657374, // "test"
  ownTable: 'things',
  migrations,
});

const dir = mkdtempSync(join(tmpdir(), 'sqlite-schema-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(dir, `${(files += 1)}.db`);

/** A file as some other program, or a build of ours, left it: closed, with the given stamps. */
function fileWith(sql: string, stamps: { applicationId?: number; userVersion?: number } = {}): string {
  const path = freshPath();
  const db = new Database(path);
  db.exec(sql);
  if (stamps.applicationId !== undefined) db.pragma(`application_id = ${stamps.applicationId}`);
  if (stamps.userVersion !== undefined) db.pragma(`user_version = ${stamps.userVersion}`);
  db.close();
  return path;
}

const applied = (db: Db) =>
  db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as Array<{
    version: number;
    name: string;
  }>;

describe('migrating a SQLite file', () => {
  test('a new file gets every step, each recorded, its stamps, and the write-ahead log', () => {
    const db = openSqlite(freshPath(), setup());
    expect(applied(db)).toEqual(steps.map(({ version, name }) => ({ version, name })));
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    expect(db.pragma('application_id', { simple: true })).toBe(0x74657374);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.prepare("INSERT INTO things (name, size) VALUES ('one', 1)").run();
    expect(db.prepare('SELECT name, colour, size FROM things').all()).toEqual([
      { name: 'one', colour: 'blue', size: 1 },
    ]);
    db.close();
  });

  test('a later build applies only the steps it adds, keeping the data; opened again, nothing is applied', () => {
    const path = freshPath();
    const first = openSqlite(path, setup(steps.slice(0, 1)));
    first.prepare("INSERT INTO things (id, name) VALUES (7, 'kept')").run();
    first.close();

    const later = openSqlite(path, setup());
    expect(later.prepare('SELECT id, name, colour FROM things').all()).toEqual([
      { id: 7, name: 'kept', colour: 'blue' },
    ]);
    expect(applied(later).map((step) => step.version)).toEqual([1, 2, 3]);
    const recorded = later.prepare('SELECT * FROM schema_migrations ORDER BY version').all();
    later.close();

    const again = openSqlite(path, setup());
    expect(again.prepare('SELECT * FROM schema_migrations ORDER BY version').all()).toEqual(recorded);
    expect(again.prepare('SELECT total_changes() AS n').get()).toEqual({ n: 0 });
    again.close();
  });

  test('a file stamped by a build from before the version table has its steps adopted, and the rest applied', () => {
    // Such a build applied steps 1 and 2 and said so in user_version alone.
    const path = fileWith(`${steps[0]!.sql} ${steps[1]!.sql} INSERT INTO things (name) VALUES ('old');`, {
      applicationId: 0x74657374,
      userVersion: 2,
    });
    const db = openSqlite(path, setup());
    expect(applied(db).map((step) => step.version)).toEqual([1, 2, 3]);
    expect(db.prepare('SELECT name, colour, size FROM things').all()).toEqual([
      { name: 'old', colour: 'blue', size: null },
    ]);
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    db.close();
  });

  test('a file from before the stamps, recognised by its own table, is stamped and migrated from the start', () => {
    // The first step of a real service says CREATE TABLE IF NOT EXISTS for this reason.
    const first = { ...steps[0]!, sql: steps[0]!.sql.replace('CREATE TABLE', 'CREATE TABLE IF NOT EXISTS') };
    const path = fileWith(`${steps[0]!.sql} INSERT INTO things (name) VALUES ('unstamped');`);
    const db = openSqlite(path, setup([first, ...steps.slice(1)]));
    expect(applied(db).map((step) => step.version)).toEqual([1, 2, 3]);
    expect(db.prepare('SELECT name FROM things').all()).toEqual([{ name: 'unstamped' }]);
    expect(db.pragma('application_id', { simple: true })).toBe(0x74657374);
    db.close();
  });

  test('the connection takes the pragmas the service sets, once migrated', () => {
    const db = openSqlite(':memory:', { ...setup(), pragmas: { synchronous: 'NORMAL' } });
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
  });
});

describe("a SQLite file that is not this build's to migrate", () => {
  test("another application's file is refused, and left byte for byte as it was", () => {
    const stamped = fileWith('CREATE TABLE invoices (id INTEGER PRIMARY KEY);', { applicationId: 0x6f746872 });
    const unstamped = fileWith('CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT);');
    for (const path of [stamped, unstamped]) {
      const before = readFileSync(path);
      expect(() => openSqlite(path, setup())).toThrow(DatabaseOpenError);
      expect(() => openSqlite(path, setup())).toThrow(
        /^DB_PATH .* belongs to another application \(application_id \d+, tables (invoices|recipes)\); it was left untouched/,
      );
      expect(readFileSync(path)).toEqual(before);
    }
  });

  test.each([
    ['its user_version', 'PRAGMA user_version = 4'],
    ['its version table', "INSERT INTO schema_migrations VALUES (4, '004-future', '2030-01-01T00:00:00.000Z')"],
  ])('a file a newer build wrote (as %s says) is refused, and left byte for byte as it was', (_, newer) => {
    const path = freshPath();
    openSqlite(path, setup()).close();
    const writer = new Database(path);
    writer.exec(newer);
    writer.close();
    const before = readFileSync(path);
    expect(() => openSqlite(path, setup())).toThrow(
      /^DB_PATH .* has schema version 4, newer than the 3 this build knows; it was left untouched/,
    );
    expect(readFileSync(path)).toEqual(before);
  });

  test('the in-memory database is named as such when refused', () => {
    const db = openDatabase(':memory:');
    db.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    expect(() => migrateSqlite(db, setup())).toThrow(/^the in-memory database belongs to another application/);
  });
});

describe('loading the numbered steps of a folder', () => {
  test('reads NNN-name.sql in the order of their numbers, and nothing else', () => {
    const folder = mkdtempSync(join(dir, 'steps-'));
    writeFileSync(join(folder, '010-later.sql'), 'SELECT 10;');
    writeFileSync(join(folder, '002-earlier.sql'), 'SELECT 2;');
    writeFileSync(join(folder, 'README.md'), 'Not a step.');
    writeFileSync(join(folder, '003-draft.sql.orig'), 'Not a step either.');
    expect(loadMigrations(pathToFileURL(`${folder}/`))).toEqual([
      { version: 2, name: '002-earlier', sql: 'SELECT 2;' },
      { version: 10, name: '010-later', sql: 'SELECT 10;' },
    ]);
  });
});
