import { describe, expect, test } from '@jest/globals';
import { openSqlite, type ServiceSchema } from '@welcome/common';
import { crmSchema } from '../../crm/src/store/schema.js';
import { inventorySchema } from '../../inventory/src/store/schema.js';
import { middlewareSchema } from '../../middleware/src/store/schema.js';
import { testDatabases } from '../support/databases.js';

/** A table's columns as both backends can say them: the kind of value, and whether it may be missing. */
type Layout = Record<string, Record<string, { kind: string; notNull: boolean }>>;

/**
 * Where the two backends differ on purpose: a table, or one of its columns, that only PostgreSQL
 * has; or, with `postgresKind`, a column PostgreSQL keeps as another kind of value than SQLite.
 */
interface OnPurpose {
  table: string;
  column?: string;
  postgresKind?: string;
  why: string;
}

const SERVICES: ReadonlyArray<{ service: string; schema: ServiceSchema; postgresOnly: readonly OnPurpose[] }> = [
  {
    service: 'crm',
    schema: crmSchema,
    postgresOnly: [
      {
        table: 'webhook_messages',
        column: 'lease_until',
        why:
          'replicas share the lease of a message being sent; one SQLite process holds its leases in memory ' +
          '(SQLite step 004 dropped the column), so that a claim costs no commit',
      },
    ],
  },
  { service: 'inventory', schema: inventorySchema, postgresOnly: [] },
  {
    service: 'middleware',
    schema: middlewareSchema,
    postgresOnly: [
      {
        table: 'claims',
        why: 'replicas share who is asking the Inventory for a customer; one SQLite process keeps its claims in memory',
      },
      {
        table: 'flow_control',
        column: 'rate_next_slot',
        why: 'replicas share the rate limit of INVENTORY_RATE_LIMIT; one SQLite process keeps its slots in memory',
      },
      ...['paused_at', 'paused_until', 'throttled_until', 'breaker_since', 'breaker_next_probe_at'].map((column) => ({
        table: 'flow_control',
        column,
        postgresKind: 'timestamp with time zone',
        why: "flow control's times are reckoned on the server's clock, so that no replica's own clock decides a wait",
      })),
    ],
  },
];

/** PostgreSQL's types as SQLite's STRICT tables hold the same values (a boolean as 0 or 1). */
const KINDS: Record<string, string> = { bigint: 'INTEGER', integer: 'INTEGER', boolean: 'INTEGER', text: 'TEXT' };

function sqliteLayout(schema: ServiceSchema): Layout {
  const db = openSqlite(':memory:', schema.sqlite);
  const columns = db
    .prepare<[], { table_name: string; column_name: string; type: string; notnull: number; pk: number }>(
      `SELECT t.name AS table_name, c.name AS column_name, c.type, c."notnull", c.pk
       FROM sqlite_schema t JOIN pragma_table_info(t.name) c
       WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%'`,
    )
    .all();
  db.close();
  const layout: Layout = {};
  // A primary key is never missing, though SQLite's notnull flag leaves it unsaid.
  for (const c of columns) {
    (layout[c.table_name] ??= {})[c.column_name] = { kind: c.type, notNull: c.notnull === 1 || c.pk > 0 };
  }
  return layout;
}

async function postgresLayout(databases: ReturnType<typeof testDatabases>): Promise<Layout> {
  const pg = await databases.postgres();
  const columns = await pg.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
    'SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1',
    [pg.schema],
  );
  const layout: Layout = {};
  for (const c of columns) {
    (layout[c.table_name] ??= {})[c.column_name] = {
      kind: KINDS[c.data_type] ?? c.data_type,
      notNull: c.is_nullable === 'NO',
    };
  }
  return layout;
}

/** `layout` without what only PostgreSQL has on purpose; each of those must be there, or its entry is stale. */
function withoutOnPurpose(layout: Layout, postgresOnly: readonly OnPurpose[]): Layout {
  const rest = structuredClone(layout);
  for (const { table, column, postgresKind } of postgresOnly) {
    if (postgresKind !== undefined) {
      expect(rest[table]?.[column!]?.kind).toBe(postgresKind);
      rest[table]![column!]!.kind = 'TEXT';
    } else if (column === undefined) {
      expect(rest).toHaveProperty([table]);
      delete rest[table];
    } else {
      expect(rest[table]).toHaveProperty([column]);
      delete rest[table]![column];
    }
  }
  return rest;
}

describe.each(SERVICES)('the $service schema', ({ service, schema, postgresOnly }) => {
  const databases = testDatabases(service, schema);

  test('has the same tables and columns on SQLite and on PostgreSQL, but for the differences listed', async () => {
    const sqlite = sqliteLayout(schema);
    const postgres = withoutOnPurpose(await postgresLayout(databases), postgresOnly);
    expect(Object.keys(sqlite).sort()).toEqual(Object.keys(postgres).sort());
    expect(sqlite).toEqual(postgres);
  });
});
