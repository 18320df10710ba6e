-- Journeys: each customer's steps, read by customer; pruned by time.
CREATE TABLE journey_steps (
      id INTEGER PRIMARY KEY,
      customer_id INTEGER NOT NULL,
      at TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('created', 'found', 'asked', 'outcome')),
      detail TEXT NOT NULL,
      trace_id TEXT
    ) STRICT;
    CREATE INDEX journey_steps_by_customer ON journey_steps (customer_id, id);
    CREATE INDEX journey_steps_by_time ON journey_steps (at);
