-- The heartbeat /status lists the replicas by: here the one process, restarts included.
CREATE TABLE replicas (
      id TEXT PRIMARY KEY,
      started_at TEXT NOT NULL,
      last_seen_at TEXT NOT NULL
    ) STRICT;
