import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { latestVersion, openSqlite, type Db, type ServiceSchema } from '@welcome/common';
import { crmSchema } from '../../crm/src/store/schema.js';
import { inventorySchema } from '../../inventory/src/store/schema.js';
import { middlewareSchema } from '../../middleware/src/store/schema.js';
import { ROOT } from '../e2e/platform.js';

// Files made by the build of 3499a6f, whose SQLite steps were TypeScript strings and whose schema
// version was PRAGMA user_version alone: how they were made is in test/fixtures/3499a6f/README.md.
const FIXTURES = join(ROOT, 'test/fixtures/3499a6f');
const dir = mkdtempSync(join(tmpdir(), 'upgrade-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each service's schema now, and the version its file had in that build: the steps after it are new. */
const SERVICES: ReadonlyArray<{ service: string; schema: ServiceSchema; then: number }> = [
  { service: 'crm', schema: crmSchema, then: 6 },
  { service: 'inventory', schema: inventorySchema, then: 1 },
  { service: 'middleware', schema: middlewareSchema, then: 5 },
];

const tablesOf = (db: Db) =>
  db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();

/** Every row of every table of the file, by table. */
const contentOf = (db: Db, tables: readonly string[]) =>
  Object.fromEntries(tables.map((table) => [table, db.prepare(`SELECT * FROM "${table}" ORDER BY rowid`).all()]));

/** `now`'s rows with only the columns each table had `before`: the steps since may add columns. */
const asBefore = (now: Record<string, unknown[]>, before: Record<string, unknown[]>) =>
  Object.fromEntries(
    Object.entries(now).map(([table, rows]) => {
      const columns = Object.keys((before[table]?.[0] as object | undefined) ?? {});
      return [
        table,
        rows.map((row) =>
          Object.fromEntries(columns.map((column) => [column, (row as Record<string, unknown>)[column]])),
        ),
      ];
    }),
  );

/** What the file is made of, but for the version table: the text SQLite keeps of each CREATE. */
const layoutOf = (db: Db) =>
  db
    .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE tbl_name <> 'schema_migrations' ORDER BY name")
    .all();

const recorded = (db: Db) => db.prepare('SELECT * FROM schema_migrations ORDER BY version').all();

describe.each(SERVICES)('a $service file made before the version table', ({ service, schema, then }) => {
  test(
    'is upgraded in place: its data kept, its steps recorded as applied, the layout a new file gets; ' +
      'opened again, nothing is applied',
    () => {
      const path = join(dir, `${service}.db`);
      copyFileSync(join(FIXTURES, `${service}.db`), path);
      const original = new Database(path, { readonly: true });
      const tables = tablesOf(original);
      expect(tables).not.toContain('schema_migrations');
      expect(original.pragma('user_version', { simple: true })).toBe(then);
      expect(latestVersion(schema.sqlite.migrations)).toBeGreaterThanOrEqual(then);
      const content = contentOf(original, tables);
      expect(Object.values(content).some((rows) => rows.length > 0)).toBe(true);
      original.close();

      const upgraded = openSqlite(path, schema.sqlite);
      expect(asBefore(contentOf(upgraded, tables), content)).toEqual(content);
      expect(upgraded.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all()).toEqual(
        schema.sqlite.migrations.map(({ version, name }) => ({ version, name })),
      );
      expect(layoutOf(upgraded)).toEqual(layoutOf(openSqlite(':memory:', schema.sqlite)));
      const steps = recorded(upgraded);
      upgraded.close();

      const again = openSqlite(path, schema.sqlite);
      expect(recorded(again)).toEqual(steps);
      expect(again.prepare('SELECT total_changes() AS n').get()).toEqual({ n: 0 });
      expect(asBefore(contentOf(again, tables), content)).toEqual(content);
      again.close();
    },
  );
});
