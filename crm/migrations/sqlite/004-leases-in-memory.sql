-- One process owns the file: its leases are held in memory (no commit per claim), not in this column.
DROP INDEX webhook_messages_leased;
    ALTER TABLE webhook_messages DROP COLUMN lease_until;
