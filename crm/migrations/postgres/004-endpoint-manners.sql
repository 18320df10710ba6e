-- An endpoint's manners: the Retry-After it last gave, since when every attempt to it has failed,
-- and, once that has lasted WEBHOOK_DISABLE_AFTER, when and why it was disabled. The messages of a
-- disabled endpoint are kept with no next attempt (next_attempt_at NULL) until it is enabled again.
ALTER TABLE webhook_endpoints ADD COLUMN throttled_until text;
ALTER TABLE webhook_endpoints ADD COLUMN failing_since text;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_at text;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_reason text;
