-- One welcome package per customer: UNIQUE (customer_id) holds the rule across every replica.
-- Times are ISO 8601 text, as the API shows them and as the SQLite file keeps them.
CREATE TABLE packages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL UNIQUE,
  customer_name text NOT NULL,
  status text NOT NULL DEFAULT 'Pending',
  created_at text NOT NULL
);
