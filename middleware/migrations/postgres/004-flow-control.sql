-- Flow control toward the Inventory, shared by every replica: a pause asked for by an operator, the
-- Retry-After the Inventory gave, the circuit breaker, and the shared rate limit's next free slot
-- (its theoretical arrival time, GCRA). Times are the server's own (timestamptz): every replica
-- reads them against the server's clock, never its own.
CREATE TABLE flow_control (
  id integer PRIMARY KEY CHECK (id = 1),
  paused_at timestamptz,
  paused_by text,
  paused_reason text,
  paused_until timestamptz,
  throttled_until timestamptz,
  throttled_status integer,
  breaker_state text NOT NULL DEFAULT 'closed' CHECK (breaker_state IN ('closed', 'open', 'halfOpen')),
  breaker_since timestamptz,
  breaker_reason text,
  breaker_probe_ms integer,
  breaker_next_probe_at timestamptz,
  rate_next_slot timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO flow_control (id) VALUES (1);
