-- How many messages one request to the endpoint may carry (1: one event per request).
ALTER TABLE webhook_endpoints ADD COLUMN batch_size INTEGER NOT NULL DEFAULT 1;
