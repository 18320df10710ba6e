-- Ids come from identity sequences, which never hand a value out twice. A sequence alone does not
-- make `after=` a safe cursor across replicas: every insert of customers takes a transaction-scoped
-- advisory lock before it draws its ids, so ids become visible in id order (see src/store/customers/postgres.ts).
-- Times are ISO 8601 text, as the API shows them and as the SQLite file keeps them.
-- email_key holds the email lower-cased by the CRM itself, as in the SQLite file, so that both
-- backends agree on which emails are the same.
CREATE TABLE customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL,
  email_key text NOT NULL UNIQUE,
  created_at text NOT NULL
);

CREATE TABLE webhook_endpoints (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  url text NOT NULL,
  secret text NOT NULL,
  created_at text NOT NULL
);

-- The webhook outbox: a customer's messages are written in the customer's own transaction, so a
-- 201 implies they exist; `payload` is the exact body every attempt sends. A message being sent is
-- leased until lease_until, by whichever replica claimed it.
CREATE TABLE webhook_messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_type text NOT NULL,
  customer_id bigint NOT NULL,
  payload text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_attempt_at text,
  last_status integer,
  last_error text,
  next_attempt_at text,
  lease_until text
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_messages_leased ON webhook_messages (lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX webhook_messages_of_endpoint ON webhook_messages (endpoint_id, id);
