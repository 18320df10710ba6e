import { loadMigrations, type PostgresSetup, type Schema } from '@welcome/common';

/** The CRM's SQLite file; each step is applied once, in order, and recorded in the file. */
export const crmSchema: Schema = {
  applicationId: 0x7763726d, // "wcrm"
  ownTable: 'customers',
  migrations: [
    // AUTOINCREMENT: ids never come back after a delete, which is what makes `after=` a safe cursor.
    // email_key holds the lower-cased email: SQLite's NOCASE folds ASCII only.
    `CREATE TABLE IF NOT EXISTS customers (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      email TEXT NOT NULL,
      email_key TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL
    ) STRICT;`,
    // The webhook outbox: a customer's messages are written in the customer's own transaction,
    // so a 201 implies they exist; `payload` is the exact body every attempt sends.
    `CREATE TABLE webhook_endpoints (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      url TEXT NOT NULL,
      secret TEXT NOT NULL,
      created_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE webhook_messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
      event_type TEXT NOT NULL,
      customer_id INTEGER NOT NULL,
      payload TEXT NOT NULL,
      status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts INTEGER NOT NULL DEFAULT 0,
      last_attempt_at TEXT,
      last_status INTEGER,
      last_error TEXT,
      next_attempt_at TEXT
    ) STRICT;
    CREATE INDEX webhook_messages_due ON webhook_messages (status, next_attempt_at);
    CREATE INDEX webhook_messages_of_endpoint ON webhook_messages (endpoint_id, id);`,
    // A message being sent is leased until lease_until: no other claim takes it before then.
    `ALTER TABLE webhook_messages ADD COLUMN lease_until TEXT;
    CREATE INDEX webhook_messages_leased ON webhook_messages (lease_until) WHERE lease_until IS NOT NULL;`,
    // One process owns the file: its leases are held in memory (no commit per claim), not in this column.
    `DROP INDEX webhook_messages_leased;
    ALTER TABLE webhook_messages DROP COLUMN lease_until;`,
    // How many messages one request to the endpoint may carry (1: one event per request).
    'ALTER TABLE webhook_endpoints ADD COLUMN batch_size INTEGER NOT NULL DEFAULT 1;',
    // The trace context a customer was created in, when traces were on.
    'ALTER TABLE customers ADD COLUMN traceparent TEXT;',
  ],
};

/** The CRM's PostgreSQL schema, one numbered SQL file a step (crm/migrations/postgres). */
export const crmMigrations = loadMigrations(new URL('../../migrations/postgres/', import.meta.url));

/**
 * The CRM on PostgreSQL: its answers promise a stored row, so every commit waits for the disk (the
 * server's default).
 */
export const crmPostgres: PostgresSetup = { migrations: crmMigrations };
