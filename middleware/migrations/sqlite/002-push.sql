-- Push: customers confirmed ahead of the cursor (by a webhook), forgotten once the cursor
-- passes them; and what each path carried.
CREATE TABLE confirmed (
      customer_id INTEGER PRIMARY KEY,
      package_id INTEGER NOT NULL,
      outcome TEXT NOT NULL
    ) STRICT;
    ALTER TABLE sync_state ADD COLUMN via_webhook INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN via_long_poll INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN via_poll INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN last_webhook_at TEXT;
