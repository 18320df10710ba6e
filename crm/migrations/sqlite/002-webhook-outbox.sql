-- The webhook outbox: a customer's messages are written in the customer's own transaction,
-- so a 201 implies they exist; `payload` is the exact body every attempt sends.
CREATE TABLE webhook_endpoints (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      url TEXT NOT NULL,
      secret TEXT NOT NULL,
      created_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE webhook_messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
      event_type TEXT NOT NULL,
      customer_id INTEGER NOT NULL,
      payload TEXT NOT NULL,
      status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts INTEGER NOT NULL DEFAULT 0,
      last_attempt_at TEXT,
      last_status INTEGER,
      last_error TEXT,
      next_attempt_at TEXT
    ) STRICT;
    CREATE INDEX webhook_messages_due ON webhook_messages (status, next_attempt_at);
    CREATE INDEX webhook_messages_of_endpoint ON webhook_messages (endpoint_id, id);
