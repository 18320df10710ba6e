-- The middleware's state: the cursor and its counters in one row, the dead letters, and the
-- deliveries /status shows.
-- IF NOT EXISTS: a file from before the stamps (version 0) already has these tables, and is
-- migrated from this first step.
CREATE TABLE IF NOT EXISTS sync_state (
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
    ) STRICT;
