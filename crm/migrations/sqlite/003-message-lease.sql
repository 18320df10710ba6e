-- A message being sent is leased until lease_until: no other claim takes it before then.
ALTER TABLE webhook_messages ADD COLUMN lease_until TEXT;
    CREATE INDEX webhook_messages_leased ON webhook_messages (lease_until) WHERE lease_until IS NOT NULL;
