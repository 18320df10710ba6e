-- Flow control toward the Inventory: a pause, the Retry-After it gave, the circuit breaker. The
-- rate limit's slots are the one process's own, kept in memory.
CREATE TABLE flow_control (
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
    INSERT INTO flow_control (id) VALUES (1);
