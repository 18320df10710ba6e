import { loadMigrations, migrate, type Db, type PostgresSetup, type Schema } from '@welcome/common';

/** The middleware's database; each step is applied once, in order, and recorded in the file. */
export const middlewareSchema: Schema = {
  applicationId: 0x776d6964, // "wmid"
  ownTable: 'sync_state',
  migrations: [
    `CREATE TABLE IF NOT EXISTS sync_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      cursor INTEGER NOT NULL DEFAULT 0,
      last_poll_at TEXT,
      last_success_at TEXT,
      synced INTEGER NOT NULL DEFAULT 0,
      already_there INTEGER NOT NULL DEFAULT 0,
      failed_cycles INTEGER NOT NULL DEFAULT 0,
      last_error TEXT,
      outage_upstream TEXT,
      outage_since TEXT,
      crm_highest_id INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT OR IGNORE INTO sync_state (id) VALUES (1);
    CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      letter_key TEXT NOT NULL UNIQUE,
      customer_id INTEGER UNIQUE,
      customer TEXT NOT NULL,
      status INTEGER,
      reason TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 1,
      first_failed_at TEXT NOT NULL,
      last_failed_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS deliveries (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      customer_id INTEGER NOT NULL,
      customer_name TEXT NOT NULL,
      package_id INTEGER NOT NULL,
      outcome TEXT NOT NULL,
      at TEXT NOT NULL
    ) STRICT;`,
    // Push: customers confirmed ahead of the cursor (by a webhook), forgotten once the cursor
    // passes them; and what each path carried.
    `CREATE TABLE confirmed (
      customer_id INTEGER PRIMARY KEY,
      package_id INTEGER NOT NULL,
      outcome TEXT NOT NULL
    ) STRICT;
    ALTER TABLE sync_state ADD COLUMN via_webhook INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN via_long_poll INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN via_poll INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN last_webhook_at TEXT;`,
    // The heartbeat /status lists the replicas by: here the one process, restarts included.
    `CREATE TABLE replicas (
      id TEXT PRIMARY KEY,
      started_at TEXT NOT NULL,
      last_seen_at TEXT NOT NULL
    ) STRICT;`,
    // Reconciliations: one running at a time, the walk's position and counts saved as it goes.
    `CREATE TABLE reconciliations (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
      from_id INTEGER NOT NULL,
      to_id INTEGER NOT NULL,
      repair INTEGER NOT NULL,
      open_ended INTEGER NOT NULL,
      position INTEGER NOT NULL,
      missing INTEGER NOT NULL DEFAULT 0,
      mismatched INTEGER NOT NULL DEFAULT 0,
      orphaned INTEGER NOT NULL DEFAULT 0,
      repaired INTEGER NOT NULL DEFAULT 0,
      findings TEXT NOT NULL DEFAULT '[]',
      error TEXT,
      owner TEXT NOT NULL,
      lease_until TEXT NOT NULL,
      started_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      finished_at TEXT
    ) STRICT;
    CREATE UNIQUE INDEX one_running_reconciliation ON reconciliations (status) WHERE status = 'running';`,
    // Journeys: each customer's steps, read by customer; pruned by time.
    `CREATE TABLE journey_steps (
      id INTEGER PRIMARY KEY,
      customer_id INTEGER NOT NULL,
      at TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('created', 'found', 'asked', 'outcome')),
      detail TEXT NOT NULL,
      trace_id TEXT
    ) STRICT;
    CREATE INDEX journey_steps_by_customer ON journey_steps (customer_id, id);
    CREATE INDEX journey_steps_by_time ON journey_steps (at);`,
    // Flow control toward the Inventory: a pause, the Retry-After it gave, the circuit breaker. The
    // rate limit's slots are the one process's own, kept in memory.
    `CREATE TABLE flow_control (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      paused_at TEXT,
      paused_by TEXT,
      paused_reason TEXT,
      paused_until TEXT,
      throttled_until TEXT,
      throttled_status INTEGER,
      breaker_state TEXT NOT NULL DEFAULT 'closed' CHECK (breaker_state IN ('closed', 'open', 'halfOpen')),
      breaker_since TEXT,
      breaker_reason TEXT,
      breaker_probe_ms INTEGER,
      breaker_next_probe_at TEXT
    ) STRICT;
    INSERT INTO flow_control (id) VALUES (1);`,
  ],
};

/** The middleware's PostgreSQL schema, one numbered SQL file a step (middleware/migrations/postgres). */
export const middlewareMigrations = loadMigrations(new URL('../../migrations/postgres/', import.meta.url));

/**
 * The middleware on PostgreSQL commits without waiting for the server's disk, as it does on SQLite
 * (synchronous = NORMAL) and for the same reason: everything it keeps is rebuilt by sending again
 * what its cursor has not passed, which the Inventory answers 200. A crash of the server itself can
 * take back its last commits (the cursor is then earlier, never later; a claim lost lets another
 * replica ask once more); a crash of a replica takes back nothing it committed.
 */
export const middlewarePostgres: PostgresSetup = {
  migrations: middlewareMigrations,
  settings: { synchronous_commit: 'off' },
};

/** Brings a SQLite file to the middleware's schema, and sets how it commits. */
export function prepareSqlite(db: Db): void {
  migrate(db, middlewareSchema);
  // Everything here is rebuilt by sending again what the cursor has not passed, and the Inventory
  // answers a resend 200. In WAL mode a commit without its own sync survives the process being
  // killed at any instant (it is in the operating system's hands); only a crash of the machine
  // itself can take back the last commits, and then the cursor is earlier than it was, never
  // later. So the middleware does not sync the disk at every commit, which would hold its event
  // loop for each; the CRM and the Inventory, whose answers promise a stored row, do.
  db.pragma('synchronous = NORMAL');
}
