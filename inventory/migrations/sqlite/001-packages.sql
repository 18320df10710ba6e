-- UNIQUE(customer_id) is the one-package-per-customer rule, enforced where no bug can skip it.
-- IF NOT EXISTS: a file from before the stamps (version 0) already has this table, and is
-- migrated from this first step.
CREATE TABLE IF NOT EXISTS packages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      customer_id INTEGER NOT NULL UNIQUE,
      customer_name TEXT NOT NULL,
      status TEXT NOT NULL DEFAULT 'Pending',
      created_at TEXT NOT NULL
    ) STRICT;
