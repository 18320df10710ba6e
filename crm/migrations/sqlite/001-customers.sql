-- AUTOINCREMENT: ids never come back after a delete, which is what makes `after=` a safe cursor.
-- email_key holds the lower-cased email: SQLite's NOCASE folds ASCII only.
-- IF NOT EXISTS: a file from before the stamps (version 0) already has this table, and is
-- migrated from this first step.
CREATE TABLE IF NOT EXISTS customers (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      email TEXT NOT NULL,
      email_key TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL
    ) STRICT;
