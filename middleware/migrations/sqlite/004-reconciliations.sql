-- Reconciliations: one running at a time, the walk's position and counts saved as it goes.
CREATE TABLE reconciliations (
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
    CREATE UNIQUE INDEX one_running_reconciliation ON reconciliations (status) WHERE status = 'running';
