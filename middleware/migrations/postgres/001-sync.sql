-- The middleware's state, shared by every replica. Times are ISO 8601 text, as the API shows them
-- and as the SQLite file keeps them, so that both compare and sort them the same way.
CREATE TABLE sync_state (
  id integer PRIMARY KEY CHECK (id = 1),
  cursor bigint NOT NULL DEFAULT 0,
  last_poll_at text,
  last_success_at text,
  synced bigint NOT NULL DEFAULT 0,
  already_there bigint NOT NULL DEFAULT 0,
  failed_cycles bigint NOT NULL DEFAULT 0,
  last_error text,
  outage_upstream text,
  outage_since text,
  crm_highest_id bigint NOT NULL DEFAULT 0,
  via_webhook bigint NOT NULL DEFAULT 0,
  via_long_poll bigint NOT NULL DEFAULT 0,
  via_poll bigint NOT NULL DEFAULT 0,
  last_webhook_at text
);
INSERT INTO sync_state (id) VALUES (1);

-- The customer and the reason are kept as the JSON text they were given, key order included.
CREATE TABLE dead_letters (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  letter_key text NOT NULL UNIQUE,
  customer_id bigint UNIQUE,
  customer text NOT NULL,
  status integer,
  reason text NOT NULL,
  attempts integer NOT NULL DEFAULT 1,
  first_failed_at text NOT NULL,
  last_failed_at text NOT NULL
);

CREATE TABLE deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL,
  customer_name text NOT NULL,
  package_id bigint NOT NULL,
  outcome text NOT NULL,
  at text NOT NULL
);

-- Customers confirmed ahead of the cursor, forgotten once the cursor passes them.
CREATE TABLE confirmed (
  customer_id bigint PRIMARY KEY,
  package_id bigint NOT NULL,
  outcome text NOT NULL
);

-- Which replica is asking the Inventory for a customer, until when: to deliver it, or to replay
-- its dead letter (replays take turns among themselves only). A delivery claim stays after the
-- customer is confirmed, until the cursor has passed it: a replica that read the state before
-- that confirmation was committed then meets the row, not an empty slot it could take.
CREATE TABLE claims (
  customer_id bigint NOT NULL,
  purpose text NOT NULL CHECK (purpose IN ('delivery', 'replay')),
  owner text NOT NULL,
  lease_until text NOT NULL,
  PRIMARY KEY (customer_id, purpose)
);

CREATE TABLE replicas (
  id text PRIMARY KEY,
  started_at text NOT NULL,
  last_seen_at text NOT NULL
);
