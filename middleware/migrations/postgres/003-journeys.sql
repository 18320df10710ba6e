-- Journeys: each customer's steps (found, each ask of the Inventory, the outcome), read by
-- customer and pruned by time. A step's own fields are kept as the JSON text they were given.
CREATE TABLE journey_steps (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL,
  at text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('created', 'found', 'asked', 'outcome')),
  detail text NOT NULL,
  trace_id text
);
CREATE INDEX journey_steps_by_customer ON journey_steps (customer_id, id);
CREATE INDEX journey_steps_by_time ON journey_steps (at);
