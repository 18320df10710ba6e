-- The trace context a customer was created in, when traces were on.
ALTER TABLE customers ADD COLUMN traceparent TEXT;
